// bench_stage [--size-mb N] [--runs N] [--only local,network,delta,bounded,assembly] [--delta-data
// DIR]
//             [--zero-gb N] [--dir DIR] [--keep]
//
// Prints, in one run, wall time and peak RSS of Ferry's staging path next to the shell pipeline
// that does the same work, each run in a child process so its peak RSS is its own (the pipeline's
// figure is its largest process). Three legs:
//
// local    a generated zstd layer (--size-mb of tar, 1024 by default) read from a local file,
//          against `zstd -d | tee >(sha256sum) | tar -x`. Ferry runs three ways: one thread; with
//          zstd on a read-ahead thread (ReadAheadSource); and the whole StageLayer (read-ahead,
//          syncfs, durable rename).
// network  the same blob served by ferry-server on 127.0.0.1 (port 0). The row that counts is
//          ferryd's own path for a full layer (RemoteInstaller: update::FetchWhileUnpacking with
//          engine::UnpackLayerBlob): the fetcher writes the partial file (sha256 while writing,
//          fsync) while the layer is unpacked from it as it grows (GrowingFileSource, zstd on a
//          read-ahead thread), renamed into place only once the whole blob verified. The row
//          before it fetches to the end and then stages from the file, as ferryd did before issue
//          #19. The peer is `curl | tee >(sha256sum) | zstd -d | tee >(sha256sum) | tar -x` with
//          both sums checked. Goal (issue #19): <= 0.5x the pipeline's time, <= 64 MB peak RSS.
// delta    the shared Debian security update (shared/bench/data, or --delta-data, or
//          $FERRY_BENCH_DATA): v1 staged first, then Ferry fetches its delta to v2 (ferry-publish
//          delta's encoder, in-process), rebuilds the v2 tar from the unpacked v1 layer
//          (DeltaSource, as the engine) and stages it; the peer fetches a whole-tar `zstd -19
//          --long=27 --patch-from` patch and pipes it through `zstd -d --patch-from=v1.tar`, with
//          the same sums.
// bounded  ferryd's memory while staging hostile layers: a million tiny files, a zero bomb
//          (--zero-gb GiB of zeros, 4 by default, in a blob of a few hundred KB), a million
//          whiteouts and a million directories, staged as the engine stages a full blob; then
//          the million-files layer and the million-whiteouts layer above it assembled into a
//          root filesystem as the engine does (CheckLayerStack, AssembleRootfs as a hardlink
//          farm), and the million-directories layer assembled alone. Goal: <= 32 MB peak RSS
//          each (issue #15). `--only assembly` runs only the assemblies (and stages just their
//          layers, unmeasured).
//
// The server is this build tree's ferry-server, or the program $FERRY_SERVER names (the release
// preset does not build the server with GCC 12, so the bench can run the dev build's). Everything
// lives in a temporary directory outside the repository (TMPDIR or /tmp), removed at the end
// unless --keep is given.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bounded_leg.hpp"
#include "ferry/layers/extract.hpp"
#include "layer_generator.hpp"
#include "measure.hpp"
#include "network_legs.hpp"

namespace {

namespace fs = std::filesystem;
using ferry::bench::Measure;
using ferry::bench::Quote;
using ferry::bench::Row;
using ferry::layers::ExtractPolicy;

constexpr double kGoalRatio = 1.3;
constexpr double kGoalNetworkRatio = 0.5;
constexpr double kGoalRssMb = 64;

// The main checkout of the git worktree `source` (whose .git is a file "gitdir:
// <main>/.git/worktrees/<name>"), or empty when `source` is not a worktree.
fs::path MainCheckout(const fs::path& source) {
  std::ifstream in(source / ".git");
  std::string line;
  if (!std::getline(in, line) || !line.starts_with("gitdir: ")) {
    return {};
  }
  const fs::path gitdir = line.substr(8);
  if (gitdir.parent_path().filename() != "worktrees") {
    return {};
  }
  return gitdir.parent_path().parent_path().parent_path();
}

// The shared benchmark data: --delta-data, $FERRY_BENCH_DATA, or shared/bench/data next to the
// checkout, or next to the main checkout when this is a worktree (as bench/delta/run finds it).
fs::path FindDeltaData(const fs::path& given) {
  std::vector<fs::path> candidates;
  if (!given.empty()) {
    candidates.push_back(given);
  } else if (const char* env = std::getenv("FERRY_BENCH_DATA"); env != nullptr) {
    candidates.emplace_back(env);
  } else {
    const fs::path source = FERRY_SOURCE_DIR;
    candidates = {source / ".." / "shared" / "bench" / "data"};
    if (const fs::path main = MainCheckout(source); !main.empty()) {
      candidates.push_back(main / ".." / "shared" / "bench" / "data");
    }
  }
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (fs::exists(c / "debian-update-v1.tar.zst", ec)) {
      return fs::weakly_canonical(c, ec);
    }
  }
  return {};
}

// The local leg: extraction from a blob on disk, page cache warm.
std::vector<Row> RunLocalLeg(const fs::path& dir, const fs::path& blob,
                             const ferry::bench::GeneratedLayer& layer, int runs) {
  const fs::path shell_out = dir / "shell";
  const fs::path ours_out = dir / "ours";
  const fs::path layers_dir = dir / "layers";
  const ExtractPolicy policy = ExtractPolicy::ForCurrentProcess();
  auto clean = [&] {
    ferry::bench::RemoveAll(shell_out);
    ferry::bench::RemoveAll(ours_out);
    ferry::bench::RemoveAll(layers_dir);
    ::sync();
  };
  std::vector<Row> rows = {{"zstd -d | tee >(sha256sum) | tar -x", {}},
                           {"ferry ExtractLayer, one thread", {}},
                           {"ferry ExtractLayer, zstd on a read-ahead thread", {}},
                           {"ferry StageLayer (read-ahead, + syncfs, rename)", {}}};
  // sha256sum reads a FIFO as a job of the script, so the script waits for it before checking.
  const fs::path fifo = dir / "tar.fifo";
  const fs::path sum = dir / "shell.sum";
  const std::string pipeline = "set -e -o pipefail; rm -f " + Quote(fifo) + "; mkfifo " +
                               Quote(fifo) + "; sha256sum < " + Quote(fifo) + " > " + Quote(sum) +
                               " & s=$!; zstd -q -d -c " + Quote(blob) + " | tee " + Quote(fifo) +
                               " | tar -x -C " + Quote(shell_out) + "; wait $s; [ \"$(cut -c1-64 " +
                               Quote(sum) + ")\" = " + layer.diff_id.substr(7) + " ]";
  auto extract = [&](bool read_ahead) {
    ferry::layers::FileSource file(blob);
    ferry::layers::ZstdSource zstd(file);
    auto result = [&] {
      if (!read_ahead) {
        return ferry::layers::ExtractLayer(zstd, ours_out, policy);
      }
      ferry::layers::ReadAheadSource ahead(zstd);
      return ferry::layers::ExtractLayer(ahead, ours_out, policy);
    }();
    if (!result) {
      std::fprintf(stderr, "extract: %s\n", result.error().message().c_str());
      return 1;
    }
    return result->digest == layer.diff_id ? 0 : 3;
  };
  for (int run = 0; run < runs; ++run) {
    clean();
    fs::create_directories(shell_out);
    rows[0].runs.push_back(ferry::bench::RunShell(pipeline));
    clean();
    fs::create_directories(ours_out);
    rows[1].runs.push_back(ferry::bench::RunChild([&] { return extract(false); }));
    clean();
    fs::create_directories(ours_out);
    rows[2].runs.push_back(ferry::bench::RunChild([&] { return extract(true); }));
    clean();
    rows[3].runs.push_back(ferry::bench::RunChild([&] {
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
  clean();
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t size_mb = 1024;
  int runs = 3;
  bool keep = false;
  fs::path dir;
  fs::path delta_data;
  std::uint64_t zero_gb = 4;
  std::set<std::string> legs = {"local", "network", "delta", "bounded"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--size-mb" && i + 1 < argc) {
      size_mb = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--only" && i + 1 < argc) {
      legs.clear();
      std::stringstream list(argv[++i]);
      for (std::string leg; std::getline(list, leg, ',');) {
        legs.insert(leg);
      }
    } else if (arg == "--delta-data" && i + 1 < argc) {
      delta_data = argv[++i];
    } else if (arg == "--zero-gb" && i + 1 < argc) {
      zero_gb = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_stage [--size-mb N] [--runs N] "
                   "[--only local,network,delta,bounded,assembly] [--delta-data DIR] [--zero-gb N] "
                   "[--dir DIR] [--keep]\n");
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

  std::vector<Row> local;
  ferry::bench::LegResult network;
  ferry::bench::LegResult delta;
  bool network_ran = false;
  bool delta_ran = false;
  ferry::bench::BoundedLegResult bounded;
  bool bounded_ran = false;
  if (legs.contains("local") || legs.contains("network")) {
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
    if (legs.contains("local")) {
      std::printf("local leg: %d runs of each ...\n", runs);
      local = RunLocalLeg(dir / "local", blob, layer, runs);
    }
    if (legs.contains("network")) {
      std::printf("network leg: %d runs of each ...\n", runs);
      network_ran = ferry::bench::RunLayerLeg(dir / "network", blob, layer.diff_id, runs, &network);
    }
    ferry::bench::RemoveAll(blob);
  }
  if (legs.contains("delta")) {
    const fs::path data = FindDeltaData(delta_data);
    if (data.empty()) {
      std::printf("delta leg skipped: no shared/bench/data (give --delta-data DIR)\n");
    } else {
      std::printf("delta leg: %d runs of each, data %s ...\n", runs, data.c_str());
      delta_ran = ferry::bench::RunDeltaLeg(dir / "delta", data, runs, &delta);
    }
  }

  if (legs.contains("bounded") || legs.contains("assembly")) {
    std::printf("bounded leg: %d runs of each ...\n", runs);
    bounded_ran = ferry::bench::RunBoundedLeg(dir / "bounded", zero_gb << 30, runs,
                                              !legs.contains("bounded"), &bounded);
    if (!bounded_ran) {
      return 1;
    }
  }

  std::printf("\n");
  if (!local.empty()) {
    std::printf("local: %d runs each (page cache warm, blob from a local file):\n", runs);
    for (const Row& row : local) {
      ferry::bench::PrintRow(row);
    }
    std::printf(
        "ratio to the shell pipeline (medians): one thread %.2fx, read-ahead %.2fx, "
        "StageLayer %.2fx\n",
        local[1].Median() / local[0].Median(), local[2].Median() / local[0].Median(),
        local[3].Median() / local[0].Median());
  }
  if (network_ran) {
    std::printf("network: %d runs each (ferry-server on 127.0.0.1, blob in its page cache):\n",
                runs);
    ferry::bench::PrintRow(network.pipeline);
    ferry::bench::PrintRow(network.ferry);
    ferry::bench::PrintRow(network.overlapped);
    ferry::bench::PrintVerdict("network, fetch then stage (before #19)", network.ferry,
                               network.pipeline, kGoalNetworkRatio, kGoalRssMb);
    ferry::bench::PrintVerdict("network, ferryd: unpack while fetching", network.overlapped,
                               network.pipeline, kGoalNetworkRatio, kGoalRssMb);
  }
  if (delta_ran) {
    std::printf("delta: %d runs each (Debian security update v1 -> v2, from 127.0.0.1):\n", runs);
    ferry::bench::PrintRow(delta.pipeline);
    ferry::bench::PrintRow(delta.ferry);
    ferry::bench::PrintVerdict("delta leg", delta.ferry, delta.pipeline, kGoalRatio, kGoalRssMb);
  }
  if (bounded_ran) {
    std::printf(
        "bounded: %d runs each (staged as the engine stages a full blob, assembled as it "
        "assembles a hardlink farm):\n",
        runs);
    ferry::bench::PrintBoundedLeg(bounded);
  }
  if (!keep) {
    ferry::bench::RemoveAll(dir);
  }
  const bool all_ok =
      std::all_of(local.begin(), local.end(), [](const Row& r) { return r.Ok(); }) &&
      (!network_ran || (network.ferry.Ok() && network.overlapped.Ok() && network.pipeline.Ok())) &&
      (!delta_ran || (delta.ferry.Ok() && delta.pipeline.Ok())) && (!bounded_ran || bounded.Ok());
  return all_ok ? 0 : 1;
}
