#include "ferry/update/remote_installer.hpp"

#include <sys/stat.h>

#include <chrono>
#include <set>
#include <system_error>

#include "ferry/bundle/bundle.hpp"
#include "ferry/core/crashpoint.hpp"
#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/engine/unpack_layer.hpp"
#include "ferry/update/admission.hpp"
#include "ferry/update/download_plan.hpp"
#include "ferry/update/fetch_while_unpacking.hpp"
#include "release_pipeline.hpp"

namespace ferry::update {
namespace {

namespace stdfs = std::filesystem;

FERRY_DEFINE_CRASHPOINT(kDownloadBeforeRename, "update.download.before-rename");
FERRY_DEFINE_CRASHPOINT(kDownloadAfterRename, "update.download.after-rename");
FERRY_DEFINE_CRASHPOINT(kDownloadedAll, "update.download.complete");
FERRY_DEFINE_CRASHPOINT(kDownloadUnpacked, "update.download.unpacked");

bool Exists(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(stdfs::symlink_status(p, ec));
}

std::uint64_t FileSize(const stdfs::path& p) {
  std::error_code ec;
  const auto size = stdfs::file_size(p, ec);
  return ec ? 0 : size;
}

// Bytes per second over the last second or more of a download, for `ferry status`.
class SpeedMeter {
 public:
  explicit SpeedMeter(const Clock& clock) : clock_(clock) {}

  std::uint64_t Update(std::uint64_t bytes) {
    const auto now = clock_.Now();
    if (!started_) {
      started_ = true;
      mark_time_ = now;
      mark_bytes_ = bytes;
      return 0;
    }
    const auto elapsed = std::chrono::duration<double>(now - mark_time_).count();
    if (elapsed >= 1.0) {
      const auto delta = bytes >= mark_bytes_ ? bytes - mark_bytes_ : 0;
      speed_ = static_cast<std::uint64_t>(static_cast<double>(delta) / elapsed);
      mark_time_ = now;
      mark_bytes_ = bytes;
    }
    return speed_;
  }

 private:
  const Clock& clock_;
  bool started_ = false;
  Clock::TimePoint mark_time_;
  std::uint64_t mark_bytes_ = 0;
  std::uint64_t speed_ = 0;
};

// The engine's view of downloaded blobs: local files first, the network for what the plan did not
// fetch (a delta that failed to apply falls back to its full layer this way).
class RemoteBlobs final : public engine::BlobProvider {
 public:
  using FetchFn = std::function<Result<stdfs::path>(const manifest::Blob&)>;
  explicit RemoteBlobs(FetchFn fetch) : fetch_(std::move(fetch)) {}
  Result<stdfs::path> Get(const manifest::Blob& blob) override { return fetch_(blob); }

 private:
  FetchFn fetch_;
};

}  // namespace

// A release from the repository: its blobs are downloaded (resumably) after admission.
class RemoteInstaller::RepositorySource final : public ReleaseSource {
 public:
  RepositorySource(RemoteInstaller& installer, const manifest::Manifest& manifest,
                   const std::string& app, const std::string& version,
                   const std::string& deployment, const fetch::CancelToken* cancel)
      : installer_(installer),
        manifest_(manifest),
        app_(app),
        version_(version),
        deployment_(deployment),
        cancel_(cancel),
        blobs_([this](const manifest::Blob& blob) {
          return installer_.FetchBlob(blob, app_, cancel_);
        }) {}

  bool Downloads() const override { return true; }

  std::uint64_t BytesOnDisk(const DownloadPlan& plan) override {
    std::uint64_t on_disk = 0;
    for (const auto& step : plan.steps) {
      if (step.source != LayerSource::kPresent) {
        if (const auto digest = Digest::Parse(step.blob.digest)) {
          on_disk += FileSize(installer_.layout_.blob(*digest)) +
                     FileSize(installer_.layout_.partial_blob(*digest));
        }
      }
    }
    return on_disk;
  }

  Status Bring(const DownloadPlan& plan) override {
    if (plan.download_bytes > 0) {
      if (auto st = installer_.Download(plan, manifest_, app_, version_, deployment_, cancel_);
          !st) {
        return st;
      }
    }
    brought_ = true;
    return Ok();
  }

  engine::BlobProvider& Blobs() override { return blobs_; }

  // Whether the release reached the engine (its blobs are all here).
  bool brought() const { return brought_; }

 private:
  RemoteInstaller& installer_;
  const manifest::Manifest& manifest_;
  const std::string& app_;
  const std::string& version_;
  const std::string& deployment_;
  const fetch::CancelToken* cancel_;
  RemoteBlobs blobs_;
  bool brought_ = false;
};

std::string ReleaseTarget(const std::string& app, const std::string& version) {
  return app + "/" + version + ".json";
}

RemoteInstaller::RemoteInstaller(engine::Engine& engine, report::Reporter& reporter,
                                 store::StateStore& store, engine::Layout layout,
                                 fetch::HttpClient& metadata, fetch::BlobFetcher& blobs,
                                 const Clock& clock, RemoteOptions options)
    : engine_(engine),
      reporter_(reporter),
      store_(store),
      layout_(std::move(layout)),
      metadata_(metadata),
      blobs_(blobs),
      clock_(clock),
      options_(std::move(options)) {}

Result<stdfs::path> RemoteInstaller::FetchBlob(const manifest::Blob& blob, const std::string& app,
                                               const fetch::CancelToken* cancel,
                                               const manifest::Layer* unpack,
                                               std::string* stripped) {
  const auto digest = Digest::Parse(blob.digest);
  if (!digest) {
    return Fail(Errc::kInvalidArgument, "not a sha256 digest: " + blob.digest);
  }
  const stdfs::path cached = layout_.blob(*digest);
  if (Exists(cached)) {
    if (VerifyFile(cached, blob.digest, blob.size)) {
      return cached;
    }
    std::error_code ec;
    stdfs::remove(cached, ec);
  }
  for (const auto& dir : {layout_.partial_blobs(), cached.parent_path()}) {
    if (auto st = fs::MakeDirs(dir, 0700); !st) {
      return Fail(st.error());
    }
  }
  fetch::BlobRequest request;
  request.url = options_.repository_url + "/blobs/sha256/" + std::string(digest->hex());
  request.digest = blob.digest;
  request.size = blob.size;
  request.partial_path = layout_.partial_blob(*digest);

  // Progress adds this blob's bytes to what the release has downloaded so far.
  const auto before = reporter_.InFlight();
  report::Progress base;
  if (auto it = before.find(app); it != before.end()) {
    base = it->second;
  }
  SpeedMeter meter(clock_);
  const std::uint64_t done_before = base.bytes_done;
  std::uint64_t last_done = 0;
  Clock::TimePoint moved_at = clock_.Now();
  const fetch::ProgressFn progress = [&](std::uint64_t done, std::uint64_t) {
    if (done != last_done) {
      last_done = done;
      moved_at = clock_.Now();
    }
    report::Progress p = base;
    p.bytes_done = done_before + done;
    p.bytes_per_second = meter.Update(done);
    p.moved_at = moved_at;
    reporter_.SetProgress(app, p);
  };
  Result<fetch::FetchStats> fetched = std::unexpected(MakeError(Errc::kIo, "not fetched"));
  if (unpack == nullptr) {
    fetched = blobs_.Fetch(request, progress, cancel);
  } else {
    const auto stop = [cancel] { return cancel != nullptr && cancel->cancelled(); };
    std::string note;
    auto both = FetchWhileUnpacking(
        blobs_, request, progress, cancel, [&](layers::ByteSource& bytes) -> Status {
          auto unpacked = engine::UnpackLayer(store_, layout_, *unpack, bytes, stop);
          if (!unpacked) {
            return Fail(unpacked.error());
          }
          note = std::move(*unpacked);
          return Ok();
        });
    fetched = std::move(both.fetched);
    if (fetched && both.unpacked) {
      // The layer is complete in the store; the verified blob is still the partial file.
      Crashpoint(kDownloadUnpacked);
      if (stripped != nullptr) {
        *stripped = std::move(note);
      }
    } else if (fetched && !stop()) {
      // The engine unpacks it from the file at staging, and says why if it fails again there.
      log::warn("{}: unpacking {} while it downloaded failed ({}); it is unpacked from the file",
                app, blob.digest, both.unpacked.error().message());
    }
  }
  if (!fetched) {
    return Fail(fetched.error().WithContext("blob " + blob.digest));
  }
  Crashpoint(kDownloadBeforeRename);
  if (auto st = fs::RenameDurable(request.partial_path, cached); !st) {
    return Fail(st.error());
  }
  Crashpoint(kDownloadAfterRename);
  if (fetched->resumed_from > 0) {
    log::info("{}: downloaded {} ({} bytes, {} received, resumed from {})", app, blob.digest,
              blob.size, fetched->bytes_received, fetched->resumed_from);
  } else {
    log::info("{}: downloaded {} ({} bytes, {} received)", app, blob.digest, blob.size,
              fetched->bytes_received);
  }
  return cached;
}

Result<engine::InstallResult> RemoteInstaller::Install(const std::string& app,
                                                       const std::string& version,
                                                       const engine::InstallOptions& options,
                                                       const fetch::CancelToken* cancel) {
  trust::UpdaterConfig tuf;
  tuf.metadata_base_url = options_.repository_url + "/metadata/";
  tuf.targets_base_url = options_.repository_url + "/targets/";
  tuf.root_max_length = options_.limits.max_metadata_bytes;
  const std::string target = ReleaseTarget(app, version);
  auto release = bundle::FetchRelease(store_.Metadata(), metadata_, clock_, tuf,
                                      options_.trusted_root, target, "the repository");
  if (!release) {
    return Fail(release.error());
  }
  const manifest::Manifest& m = release->manifest;
  if (m.app != app || m.version.String() != version) {
    return Fail(Errc::kInvalidArgument, "release " + target +
                                            " is signed, but its manifest is for " + m.app + " " +
                                            m.version.String());
  }
  if (auto st = fs::MakeDirs(layout_.blobs(), 0700); !st) {
    return Fail(st.error());
  }
  RepositorySource source(*this, m, app, version, options.deployment, cancel);
  engine::InstallOptions engine_options = options;
  if (cancel != nullptr) {
    // The same stop that ends a download ends staging, and is checked before the switch.
    engine_options.stop_requested = [cancel] { return cancel->cancelled(); };
  }
  auto result = InstallRelease(Pipeline{engine_, store_, layout_, options_.limits}, m,
                               release->manifest_bytes, source, engine_options);
  if (source.brought()) {
    // The layers are unpacked (or the release failed): the compressed blobs only take space now.
    (void)CollectGarbage();
  }
  return result;
}

Status RemoteInstaller::Download(const DownloadPlan& plan, const manifest::Manifest& m,
                                 const std::string& app, const std::string& version,
                                 const std::string& deployment, const fetch::CancelToken* cancel) {
  if (auto st = reporter_.Record(report::Event{
          .kind = "downloading", .app = app, .version = version, .deployment = deployment});
      !st) {
    return Fail(st.error());
  }
  reporter_.SetProgress(app,
                        report::Progress{"downloading", "", version, 0, plan.download_bytes, 0});
  for (const auto& step : plan.steps) {
    if (step.source == LayerSource::kPresent) {
      continue;
    }
    const manifest::Layer* full_layer = nullptr;
    for (const auto& l : m.layers) {
      if (l.diff_id == step.diff_id && step.source == LayerSource::kFullBlob) {
        full_layer = &l;
        break;
      }
    }
    // A full layer is unpacked into the layer store as it arrives; the engine finds it complete.
    std::string stripped;
    auto path = FetchBlob(step.blob, app, cancel, full_layer, &stripped);
    if (!path && step.source == LayerSource::kDelta &&
        !path.error().Is(fetch::FetchErrc::kCancelled) &&
        (path.error().Is(fetch::FetchErrc::kNotFound) ||
         path.error().Is(fetch::FetchErrc::kDigestMismatch))) {
      // The repository lacks the delta (or serves a bad one): the full layer still works.
      log::warn("{}: delta {} unusable ({}); fetching the full layer", app, step.blob.digest,
                path.error().message());
      for (const auto& layer : m.layers) {
        if (layer.diff_id == step.diff_id) {
          path = FetchBlob(layer.blob, app, cancel, &layer, &stripped);
          break;
        }
      }
    }
    if (!stripped.empty()) {
      // Said once, as the engine says it of a layer it unpacks at staging.
      log::warn("{} {}: {}", app, version, stripped);
      (void)reporter_.Record(report::Event{.kind = "staging",
                                           .app = app,
                                           .version = version,
                                           .reason = stripped,
                                           .deployment = deployment});
    }
    if (!path) {
      reporter_.ClearProgress(app);
      return Fail(path.error().WithContext(app + " " + version));
    }
  }
  Crashpoint(kDownloadedAll);
  return Ok();
}

Status RemoteInstaller::CollectGarbage(bool keep_resumable) {
  std::error_code ec;
  std::uint64_t removed = 0;
  for (const auto& dir : {layout_.sha256_blobs(), layout_.partial_blobs()}) {
    if (!Exists(dir)) {
      continue;
    }
    for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator();
         it.increment(ec)) {
      const auto digest = Digest::FromHex(it->path().filename().string());
      if (dir == layout_.partial_blobs() && digest) {
        // A partial download with a resume record is resumed by the next attempt.
        auto record = store_.GetDownload(digest->str());
        if (record && *record) {
          if (keep_resumable) {
            continue;
          }
          (void)store_.RemoveDownload(digest->str());
        }
      }
      std::error_code rm;
      stdfs::remove(it->path(), rm);
      ++removed;
    }
  }
  if (removed > 0) {
    log::info("removed {} downloaded blobs nothing needs any more", removed);
  }
  return Ok();
}

Status RemoteInstaller::SweepInterruptedDownloads() {
  std::uint64_t removed = 0;
  const auto remove = [&](const stdfs::path& path) {
    std::error_code rm;
    stdfs::remove_all(path, rm);  // blobs/ holds only what ferryd downloaded: no symlink to follow
    if (rm) {
      log::warn("removing {}: {}", path.string(), rm.message());
    } else {
      ++removed;
    }
  };
  std::error_code ec;
  if (!Exists(layout_.blobs())) {
    return Ok();
  }
  for (auto it = stdfs::directory_iterator(layout_.blobs(), ec);
       !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
    const stdfs::path dir = it->path();
    const bool blob_dir = dir == layout_.sha256_blobs() || dir == layout_.partial_blobs();
    if (!blob_dir || it->is_symlink() || !it->is_directory()) {
      remove(dir);
      continue;
    }
    std::error_code inner;
    for (auto blob = stdfs::directory_iterator(dir, inner);
         !inner && blob != stdfs::directory_iterator(); blob.increment(inner)) {
      const auto digest = Digest::FromHex(blob->path().filename().string());
      bool keep = digest && blob->is_regular_file() && !blob->is_symlink();
      if (keep && dir == layout_.partial_blobs()) {
        auto record = store_.GetDownload(digest->str());
        keep = record && *record;
        // No record: cut before its first record, or complete (the record goes when the last
        // byte is verified) and cut before its rename. A complete one is renamed now.
        auto hashed = keep ? Result<std::string>(std::string()) : Sha256FileDigest(blob->path());
        if (!keep && hashed && *hashed == digest->str() &&
            fs::MakeDirs(layout_.sha256_blobs(), 0700) &&
            fs::RenameDurable(blob->path(), layout_.blob(*digest))) {
          log::info("kept {}: downloaded in full before the interruption", digest->str());
          continue;
        }
      }
      if (!keep) {
        remove(blob->path());
      }
    }
  }
  if (removed > 0) {
    log::info("removed {} leftovers of interrupted downloads", removed);
  }
  return Ok();
}

}  // namespace ferry::update
