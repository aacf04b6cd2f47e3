#include "measure.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "ferry/layers/extract.hpp"

namespace ferry::bench {

Measure RunChild(const std::function<int()>& body) {
  std::fflush(nullptr);  // the child must not print the parent's buffered output again
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int code = body();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  Measure m;
  if (pid < 0) {
    std::perror("fork");
    return m;
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_kb = usage.ru_maxrss;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return m;
}

Measure RunShell(const std::string& script) {
  return RunChild([&] {
    ::execl("/bin/bash", "bash", "-c", script.c_str(), static_cast<char*>(nullptr));
    return 127;
  });
}

std::string Quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

double Row::Median() const {
  std::vector<double> times;
  for (const Measure& m : runs) {
    times.push_back(m.seconds);
  }
  std::sort(times.begin(), times.end());
  return times.empty() ? 0 : times[times.size() / 2];
}

double Row::Best() const {
  double best = 0;
  for (const Measure& m : runs) {
    best = best == 0 ? m.seconds : std::min(best, m.seconds);
  }
  return best;
}

double Row::PeakRssMb() const {
  long rss = 0;
  for (const Measure& m : runs) {
    rss = std::max(rss, m.peak_rss_kb);
  }
  return static_cast<double>(rss) / 1024.0;
}

bool Row::Ok() const {
  return std::all_of(runs.begin(), runs.end(), [](const Measure& m) { return m.status == 0; });
}

void PrintRow(const Row& row) {
  std::printf("%-58s", row.name.c_str());
  for (const Measure& m : row.runs) {
    if (m.status == 0) {
      std::printf(" %6.2fs", m.seconds);
    } else {
      std::printf(" %6.2fs(FAILED %d)", m.seconds, m.status);
    }
  }
  std::printf("  | best %6.2fs median %6.2fs  peak RSS %6.1f MB\n", row.Best(), row.Median(),
              row.PeakRssMb());
}

void PrintVerdict(const char* what, const Row& ours, const Row& peer, double max_ratio,
                  double max_rss_mb) {
  if (!ours.Ok() || !peer.Ok() || peer.Median() <= 0) {
    std::printf("%s: a run FAILED, no ratio\n", what);
    return;
  }
  const double ratio = ours.Median() / peer.Median();
  std::printf(
      "%s: Ferry %.2fs / pipeline %.2fs = %.2fx (goal <= %.1fx: %s), peak RSS %.1f MB "
      "(goal <= %.0f MB: %s; pipeline's largest process %.1f MB)\n",
      what, ours.Median(), peer.Median(), ratio, max_ratio, ratio <= max_ratio ? "met" : "MISSED",
      ours.PeakRssMb(), max_rss_mb, ours.PeakRssMb() <= max_rss_mb ? "met" : "MISSED",
      peer.PeakRssMb());
}

std::string ReadSumFile(const std::filesystem::path& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  char buf[65] = {};
  if (f != nullptr) {
    const std::size_t n = std::fread(buf, 1, 64, f);
    buf[n] = '\0';
    std::fclose(f);
  }
  return std::string(buf);
}

void RemoveAll(const std::filesystem::path& path) {
  // Staged layers are read-only trees; RemoveTree makes them writable on its way down.
  (void)layers::RemoveTree(path);
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace ferry::bench
