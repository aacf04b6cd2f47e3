// bench_stage [--size-mb N] [--runs N] [--dir DIR] [--keep]
//
// Times Ferry's extraction + hashing of a generated zstd layer read from a local file, against the
// shell pipeline `zstd -d | tee >(sha256sum) | tar -x` on the same blob, and prints wall time and
// peak RSS of each (the pipeline's figure is its largest process). Ferry runs three ways: all on
// one thread; with zstd on a read-ahead thread (ReadAheadSource, as ferryd stages); and the whole
// StageLayer (read-ahead, syncfs, durable rename). Each run happens in a child
// process so its peak RSS is its own. The layer and the extracted trees live in a temporary
// directory outside the repository, removed at the end unless --keep is given.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ferry/layers/extract.hpp"
#include "layer_generator.hpp"

namespace {

namespace fs = std::filesystem;
using ferry::layers::ExtractPolicy;

struct Measure {
  double seconds = 0;
  long peak_rss_kb = 0;
  int status = -1;
};

// Runs `body` in a child process; its exit status is the body's return value.
Measure RunChild(const std::function<int()>& body) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::_Exit(body());
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  Measure m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_kb = usage.ru_maxrss;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return m;
}

std::string Quote(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t size_mb = 1024;
  int runs = 3;
  bool keep = false;
  fs::path dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--size-mb" && i + 1 < argc) {
      size_mb = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr, "usage: bench_stage [--size-mb N] [--runs N] [--dir DIR] [--keep]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/ferry-bench-stage-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = templ;
  } else {
    fs::create_directories(dir);
  }
  const fs::path blob = dir / "layer.tar.zst";
  ferry::bench::GeneratedLayer layer;
  std::printf("generating a %llu MB layer in %s ...\n", static_cast<unsigned long long>(size_mb),
              dir.c_str());
  if (!ferry::bench::GenerateLayer(blob, size_mb << 20, &layer)) {
    return 1;
  }
  std::printf("layer: %llu files, tar %.1f MB, zstd blob %.1f MB, %s\n",
              static_cast<unsigned long long>(layer.files),
              static_cast<double>(layer.tar_bytes) / 1048576.0,
              static_cast<double>(layer.blob_bytes) / 1048576.0, layer.diff_id.c_str());

  const fs::path shell_out = dir / "shell";
  const fs::path ours_out = dir / "ours";
  const fs::path layers_dir = dir / "layers";
  const ExtractPolicy policy = ExtractPolicy::ForCurrentProcess();
  auto clean = [&] {
    (void)ferry::layers::RemoveTree(shell_out);
    (void)ferry::layers::RemoveTree(ours_out);
    (void)ferry::layers::RemoveTree(layers_dir);
    ::sync();
  };

  std::vector<Measure> shell_runs;
  std::vector<Measure> ours_runs;
  std::vector<Measure> ahead_runs;
  std::vector<Measure> stage_runs;
  for (int run = 0; run < runs; ++run) {
    clean();
    fs::create_directories(shell_out);
    const std::string pipeline = "set -e; zstd -q -d -c " + Quote(blob) + " | tee >(sha256sum > " +
                                 Quote(dir / "shell.sum") + ") | tar -x -C " + Quote(shell_out) +
                                 "; wait $!";
    shell_runs.push_back(RunChild([&] {
      ::execl("/bin/bash", "bash", "-c", pipeline.c_str(), static_cast<char*>(nullptr));
      return 127;
    }));

    clean();
    fs::create_directories(ours_out);
    ours_runs.push_back(RunChild([&] {
      ferry::layers::FileSource file(blob);
      ferry::layers::ZstdSource source(file);
      auto result = ferry::layers::ExtractLayer(source, ours_out, policy);
      if (!result) {
        std::fprintf(stderr, "extract: %s\n", result.error().message().c_str());
        return 1;
      }
      return result->digest == layer.diff_id ? 0 : 3;
    }));

    clean();
    fs::create_directories(ours_out);
    ahead_runs.push_back(RunChild([&] {
      ferry::layers::FileSource file(blob);
      ferry::layers::ZstdSource zstd(file);
      ferry::layers::ReadAheadSource source(zstd);
      auto result = ferry::layers::ExtractLayer(source, ours_out, policy);
      if (!result) {
        std::fprintf(stderr, "extract: %s\n", result.error().message().c_str());
        return 1;
      }
      return result->digest == layer.diff_id ? 0 : 3;
    }));

    clean();
    stage_runs.push_back(RunChild([&] {
      ferry::layers::FileSource file(blob);
      ferry::layers::ZstdSource zstd(file);
      ferry::layers::ReadAheadSource source(zstd);
      auto result = ferry::layers::StageLayer(source, layers_dir, layer.diff_id, policy);
      if (!result) {
        std::fprintf(stderr, "stage: %s\n", result.error().message().c_str());
        return 1;
      }
      return 0;
    }));
  }

  auto report = [](const char* name, const std::vector<Measure>& ms) {
    long rss = 0;
    std::vector<double> times;
    std::printf("%-48s", name);
    for (const Measure& m : ms) {
      std::printf(" %6.2fs%s", m.seconds, m.status == 0 ? "" : "(FAILED)");
      times.push_back(m.seconds);
      rss = std::max(rss, m.peak_rss_kb);
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    std::printf("  | best %6.2fs median %6.2fs  peak RSS %6.1f MB\n", times.front(), median,
                static_cast<double>(rss) / 1024.0);
    return median;
  };
  std::printf("\n%d runs each (page cache warm, blob from a local file):\n", runs);
  const double shell = report("zstd -d | tee >(sha256sum) | tar -x", shell_runs);
  const double ours = report("ferry ExtractLayer, one thread", ours_runs);
  const double ahead = report("ferry ExtractLayer, zstd on a read-ahead thread", ahead_runs);
  report("ferry StageLayer (read-ahead, + syncfs, rename)", stage_runs);
  std::printf("ratio to the shell pipeline (medians): one thread %.2fx, read-ahead %.2fx\n",
              ours / shell, ahead / shell);
  const std::string sum = [&] {
    FILE* f = std::fopen((dir / "shell.sum").c_str(), "r");
    char buf[65] = {};
    if (f != nullptr) {
      std::fread(buf, 1, 64, f);
      std::fclose(f);
    }
    return std::string(buf);
  }();
  std::printf("shell sha256 %s the generated diff_id\n",
              "sha256:" + sum == layer.diff_id ? "matches" : "DOES NOT match");
  if (!keep) {
    clean();
    fs::remove_all(dir);
  }
  return 0;
}
