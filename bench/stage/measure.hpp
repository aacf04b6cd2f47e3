// What bench_stage measures and how: each run in a child process of its own, so that the peak RSS
// the kernel reports for it (ru_maxrss, the largest of the child and the children it waited for)
// is that run's alone.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ferry::bench {

struct Measure {
  double seconds = 0;
  long peak_rss_kb = 0;
  int status = -1;  // exit code, or 128 + signal
};

// Runs `body` in a forked child; its exit status is the body's return value. The parent must be
// small when it forks: the child starts with the parent's resident pages.
Measure RunChild(const std::function<int()>& body);

// Runs `script` with bash -c in a child.
Measure RunShell(const std::string& script);

// Single-quotes a path for bash.
std::string Quote(const std::filesystem::path& p);

// One row of the results table: a name and its runs.
struct Row {
  std::string name;
  std::vector<Measure> runs;

  double Median() const;
  double Best() const;
  double PeakRssMb() const;
  bool Ok() const;
};

// Prints each run, best, median and peak RSS of `row`, as one line.
void PrintRow(const Row& row);

// Prints "ours / peer" as a ratio of medians against goals of `max_ratio` and `max_rss_mb`, with
// whether each is met.
void PrintVerdict(const char* what, const Row& ours, const Row& peer, double max_ratio,
                  double max_rss_mb);

// Reads the first 64 characters of a `sha256sum` output file, or "" when it cannot.
std::string ReadSumFile(const std::filesystem::path& path);

// Removes `path` and everything below it, ignoring errors.
void RemoveAll(const std::filesystem::path& path);

}  // namespace ferry::bench
