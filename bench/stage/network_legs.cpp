#include "network_legs.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <system_error>

#include "agent/engine/delta_source.hpp"
#include "ferry/core/digest.hpp"
#include "ferry/delta/delta.hpp"
#include "ferry/engine/unpack_layer.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/update/fetch_while_unpacking.hpp"
#include "server_process.hpp"

namespace ferry::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct PublishedBlob {
  std::string digest;
  std::uint64_t size = 0;
};

// Moves `file` into <repo>/blobs/sha256/<hex>, where ferry-server serves it.
bool Publish(const fs::path& file, const fs::path& repo, PublishedBlob* out) {
  auto digest = Sha256FileDigest(file);
  if (!digest) {
    std::fprintf(stderr, "%s\n", digest.error().message().c_str());
    return false;
  }
  std::error_code ec;
  const fs::path dir = repo / "blobs" / "sha256";
  fs::create_directories(dir, ec);
  out->digest = *digest;
  out->size = fs::file_size(file, ec);
  fs::rename(file, dir / digest->substr(7), ec);
  if (ec) {
    std::fprintf(stderr, "publishing %s: %s\n", file.c_str(), ec.message().c_str());
    return false;
  }
  return true;
}

layers::ExtractPolicy StagePolicy(std::uint64_t tar_bytes) {
  // As the engine stages a layer: whiteouts listed, the tar no longer than the signed size.
  layers::ExtractPolicy policy = layers::ExtractPolicy::ForCurrentProcess();
  policy.whiteouts = layers::WhiteoutMode::kList;
  policy.max_tar_bytes = tar_bytes;
  return policy;
}

// The manifest's view of the bench's layer: its blob and the tar's size as the signed limit.
manifest::Layer AsManifestLayer(const PublishedBlob& blob, const std::string& diff_id,
                                std::uint64_t tar_bytes) {
  manifest::Layer layer;
  layer.diff_id = diff_id;
  layer.size = tar_bytes;
  layer.blob.digest = blob.digest;
  layer.blob.size = blob.size;
  return layer;
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The child's part: downloads `blob` to <partial_dir>/<hex> with ferryd's fetcher and its default
// options. Prints why on failure.
bool Fetch(const ServerProcess& server, const PublishedBlob& blob, const fs::path& partial_dir,
           fs::path* partial) {
  const SystemClock clock;
  auto fetcher = fetch::MakeCurlBlobFetcher(clock, fetch::BlobFetcherOptions{});
  const fetch::BlobRequest request{server.BlobUrl(blob.digest), blob.digest, blob.size,
                                   partial_dir / blob.digest.substr(7)};
  auto fetched = fetcher->Fetch(request);
  if (!fetched) {
    std::fprintf(stderr, "fetch: %s\n", fetched.error().message().c_str());
    return false;
  }
  *partial = request.partial_path;
  return true;
}

// The child's part for the overlapped run, ferryd's path for a full layer (RemoteInstaller's
// FetchBlob): update::FetchWhileUnpacking runs the fetcher on a thread while
// engine::UnpackLayerBlob (what engine::UnpackLayer runs, without its two SQLite records) unpacks
// the partial file as it grows; the layer is renamed into place only once the fetcher verified the
// blob and the bytes unpacked hash to it. If that fails for a reason of the download (it started
// over), the layer is unpacked again from the finished file, as the engine then does at staging.
int FetchWhileStaging(const ServerProcess& server, const PublishedBlob& blob,
                      const fs::path& partial_dir, const fs::path& layers_dir,
                      const std::string& diff_id, std::uint64_t tar_bytes, int run) {
  const auto start = Clock::now();
  const SystemClock clock;
  auto fetcher = fetch::MakeCurlBlobFetcher(clock, fetch::BlobFetcherOptions{});
  const fetch::BlobRequest request{server.BlobUrl(blob.digest), blob.digest, blob.size,
                                   partial_dir / blob.digest.substr(7)};
  const manifest::Layer layer = AsManifestLayer(blob, diff_id, tar_bytes);
  double fetch_seconds = 0;
  auto both = update::FetchWhileUnpacking(
      *fetcher, request,
      [&](std::uint64_t done, std::uint64_t total) {
        if (done == total) {
          fetch_seconds = Since(start);
        }
      },
      nullptr,
      [&](layers::ByteSource& bytes) -> Status {
        auto staged = engine::UnpackLayerBlob(bytes, layers_dir, layer, {});
        return staged ? Ok() : Status(std::unexpected(staged.error()));
      });
  if (!both.fetched) {
    std::fprintf(stderr, "fetch: %s\n", both.fetched.error().message().c_str());
    return 1;
  }
  bool again = false;
  if (!both.unpacked) {
    again = true;
    std::printf("  overlapped staging failed (%s); staging from the finished file\n",
                both.unpacked.error().message().c_str());
    layers::FileSource file(request.partial_path);
    auto staged = engine::UnpackLayerBlob(file, layers_dir, layer, {});
    if (!staged) {
      std::fprintf(stderr, "stage: %s\n", staged.error().message().c_str());
      return 1;
    }
  }
  std::printf(
      "  ferry overlapped run %d: last byte received at %.2fs, verified, fsynced and staged at "
      "%.2fs%s\n",
      run + 1, fetch_seconds, Since(start), again ? " (staged twice)" : "");
  return 0;
}

// The pipeline: curl | tee (sha256 of the blob) | DECODE | tee (sha256 of the tar) | tar -x, then
// both sums checked against what is signed, as a script that verifies would have to.
std::string Pipeline(const fs::path& work, const std::string& url, const std::string& decode,
                     const PublishedBlob& blob, const std::string& diff_id, const fs::path& out) {
  const fs::path blob_fifo = work / "blob.fifo";
  const fs::path tar_fifo = work / "tar.fifo";
  const fs::path blob_sum = work / "blob.sum";
  const fs::path tar_sum = work / "tar.sum";
  return "set -e -o pipefail; rm -f " + Quote(blob_fifo) + " " + Quote(tar_fifo) + "; mkfifo " +
         Quote(blob_fifo) + " " + Quote(tar_fifo) + "; sha256sum < " + Quote(blob_fifo) + " > " +
         Quote(blob_sum) + " & b=$!; sha256sum < " + Quote(tar_fifo) + " > " + Quote(tar_sum) +
         " & t=$!; curl -sf '" + url + "' | tee " + Quote(blob_fifo) + " | " + decode + " | tee " +
         Quote(tar_fifo) + " | tar -x -C " + Quote(out) + "; wait $b $t; [ \"$(cut -c1-64 " +
         Quote(blob_sum) + ")\" = " + blob.digest.substr(7) + " ]; [ \"$(cut -c1-64 " +
         Quote(tar_sum) + ")\" = " + diff_id.substr(7) + " ]";
}

void Clean(const std::vector<fs::path>& paths) {
  for (const fs::path& p : paths) {
    RemoveAll(p);
  }
  std::error_code ec;
  for (const fs::path& p : paths) {
    fs::create_directories(p, ec);
  }
}

}  // namespace

bool RunLayerLeg(const fs::path& dir, const fs::path& blob_file, const std::string& diff_id,
                 int runs, LegResult* result) {
  const fs::path repo = dir / "repo";
  const fs::path partial_dir = dir / "partial";
  const fs::path layers_dir = dir / "layers";
  const fs::path shell_out = dir / "shell";
  std::error_code ec;
  fs::create_directories(repo, ec);
  // The leg serves a copy: the local leg goes on using its blob.
  const fs::path copy = dir / "layer.tar.zst";
  fs::copy_file(blob_file, copy, fs::copy_options::overwrite_existing, ec);
  PublishedBlob blob;
  if (ec || !Publish(copy, repo, &blob)) {
    return false;
  }
  const std::uint64_t tar_bytes = std::uint64_t{1} << 40;
  ServerProcess server(repo, dir / "server.log");
  if (server.port() == 0) {
    return false;
  }
  result->ferry.name = "ferry fetch, then StageLayer (read-ahead)";
  result->overlapped.name = "ferry as ferryd: fetch || unpack the growing file";
  result->pipeline.name = "curl | tee(sha256) | zstd -d | tee(sha256) | tar -x";
  for (int run = 0; run < runs; ++run) {
    Clean({partial_dir, layers_dir, shell_out});
    ::sync();
    result->pipeline.runs.push_back(RunShell(
        Pipeline(dir, server.BlobUrl(blob.digest), "zstd -q -d", blob, diff_id, shell_out)));

    Clean({partial_dir, layers_dir, shell_out});
    ::sync();
    result->ferry.runs.push_back(RunChild([&] {
      const auto start = Clock::now();
      fs::path partial;
      if (!Fetch(server, blob, partial_dir, &partial)) {
        return 1;
      }
      const double fetched = Since(start);
      layers::FileSource file(partial);
      layers::ZstdSource zstd(file);
      layers::ReadAheadSource source(zstd);
      auto staged = layers::StageLayer(source, layers_dir, diff_id, StagePolicy(tar_bytes));
      if (!staged) {
        std::fprintf(stderr, "stage: %s\n", staged.error().message().c_str());
        return 1;
      }
      std::printf("  ferry run %d: fetch + verify + fsync %.2fs, stage %.2fs\n", run + 1, fetched,
                  Since(start) - fetched);
      return 0;
    }));

    Clean({partial_dir, layers_dir, shell_out});
    ::sync();
    result->overlapped.runs.push_back(RunChild([&] {
      return FetchWhileStaging(server, blob, partial_dir, layers_dir, diff_id, tar_bytes, run);
    }));
  }
  Clean({partial_dir, layers_dir, shell_out});
  return true;
}

bool RunDeltaLeg(const fs::path& dir, const fs::path& data, int runs, LegResult* result) {
  const fs::path repo = dir / "repo";
  const fs::path partial_dir = dir / "partial";
  const fs::path layers_dir = dir / "layers";
  const fs::path shell_out = dir / "shell";
  const fs::path v1 = dir / "v1.tar";
  const fs::path v2 = dir / "v2.tar";
  std::error_code ec;
  fs::create_directories(repo, ec);
  fs::create_directories(layers_dir, ec);
  for (const auto& [name, tar] : {std::pair{"v1", v1}, std::pair{"v2", v2}}) {
    const fs::path zst = data / ("debian-update-" + std::string(name) + ".tar.zst");
    if (RunShell("zstd -q -d -f --long=27 " + Quote(zst) + " -o " + Quote(tar)).status != 0) {
      std::fprintf(stderr, "cannot decompress %s\n", zst.c_str());
      return false;
    }
  }
  auto v1_id = Sha256FileDigest(v1);
  auto v2_id = Sha256FileDigest(v2);
  if (!v1_id || !v2_id) {
    return false;
  }
  const std::uint64_t v2_bytes = fs::file_size(v2, ec);
  // The device has v1 unpacked, as staged from its full layer.
  const Measure v1_staged = RunChild([&] {
    layers::FileSource file(v1);
    auto staged = layers::StageLayer(file, layers_dir, *v1_id, StagePolicy(1ull << 40));
    return staged ? 0 : 1;
  });
  if (v1_staged.status != 0) {
    std::fprintf(stderr, "staging v1 failed\n");
    return false;
  }
  std::printf(
      "delta leg: encoding v1 -> v2 (Ferry's encoder, as ferry-publish delta; zstd -19 "
      "--patch-from) ...\n");
  const fs::path ferry_delta = dir / "v1-v2.delta";
  const fs::path zstd_patch = dir / "v1-v2.zst-patch";
  // The two encoders run side by side (they take a minute or more each); neither is measured.
  const Measure encoded = RunChild([&] {
    const pid_t zstd = ::fork();
    if (zstd == 0) {
      // Its notes on the optimal parser are not the bench's output.
      const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (null_fd >= 0) {
        ::dup2(null_fd, STDERR_FILENO);
      }
      ::execlp("zstd", "zstd", "-q", "-f", "-19", "--long=27",
               ("--patch-from=" + v1.string()).c_str(), v2.c_str(), "-o", zstd_patch.c_str(),
               static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    auto old = delta::LoadOldLayer(v1);
    auto stats = old ? delta::EncodeDelta(*old, v2, ferry_delta)
                     : Result<delta::EncodeStats>(std::unexpected(old.error()));
    int status = 0;
    ::waitpid(zstd, &status, 0);
    if (!stats) {
      std::fprintf(stderr, "delta: %s\n", stats.error().message().c_str());
      return 1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
  });
  PublishedBlob delta;
  PublishedBlob patch;
  if (encoded.status != 0 || !Publish(ferry_delta, repo, &delta) ||
      !Publish(zstd_patch, repo, &patch)) {
    std::fprintf(stderr, "encoding the deltas failed\n");
    return false;
  }
  std::printf(
      "delta leg: v2 tar %llu bytes; Ferry delta %llu bytes, zstd patch %llu bytes (both "
      "encoded in %.1fs)\n",
      static_cast<unsigned long long>(v2_bytes), static_cast<unsigned long long>(delta.size),
      static_cast<unsigned long long>(patch.size), encoded.seconds);
  ServerProcess server(repo, dir / "server.log");
  if (server.port() == 0) {
    return false;
  }
  const fs::path new_layer = layers_dir / v2_id->substr(7);
  const fs::path old_layer = layers_dir / v1_id->substr(7);
  result->ferry.name = "ferry fetch delta + DeltaSource + StageLayer";
  result->pipeline.name = "curl | tee(sha256) | zstd -d --patch-from | tee | tar -x";
  for (int run = 0; run < runs; ++run) {
    Clean({partial_dir, shell_out});
    RemoveAll(new_layer);
    ::sync();
    result->pipeline.runs.push_back(RunShell(
        Pipeline(dir, server.BlobUrl(patch.digest),
                 "zstd -q -d --long=27 --patch-from=" + Quote(v1), patch, *v2_id, shell_out)));

    Clean({partial_dir, shell_out});
    RemoveAll(new_layer);
    ::sync();
    result->ferry.runs.push_back(RunChild([&] {
      const auto start = Clock::now();
      fs::path partial;
      if (!Fetch(server, delta, partial_dir, &partial)) {
        return 1;
      }
      const double fetched = Since(start);
      engine::DeltaSource source(old_layer, partial);
      auto staged = layers::StageLayer(source, layers_dir, *v2_id, StagePolicy(v2_bytes));
      const Status decoded = source.Finish();
      if (!staged || !decoded) {
        std::fprintf(stderr, "stage: %s\n",
                     (decoded ? staged.error() : decoded.error()).message().c_str());
        return 1;
      }
      std::printf("  ferry delta run %d: fetch + verify + fsync %.2fs, rebuild + stage %.2fs\n",
                  run + 1, fetched, Since(start) - fetched);
      return 0;
    }));
  }
  Clean({partial_dir, shell_out});
  return true;
}

}  // namespace ferry::bench
