// The part of an install that the repository and an offline bundle share, from a verified release
// to the engine's result: plan against the layers the device has, admit (Admit: the engine's
// refusals, then free space), bring the blobs the plan needs, hand the release to the engine.
// RemoteInstaller and OfflineInstaller differ only in how they verify a release and in their
// ReleaseSource.
//
// Blocking: run it on ferryd's worker.
#pragma once

#include <cstdint>
#include <string_view>

#include "ferry/config/config.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/download_plan.hpp"

namespace ferry::update {

// Where the blobs of a verified release come from.
class ReleaseSource {
 public:
  virtual ~ReleaseSource() = default;
  // Whether the plan's blobs are downloaded (and so need room), or already on the device.
  virtual bool Downloads() const = 0;
  // Bytes of the plan's downloads already on the device (from an earlier, interrupted attempt).
  virtual std::uint64_t BytesOnDisk(const DownloadPlan& plan) = 0;
  // Brings every blob of `plan` onto the device, after admission; an error abandons the release
  // with the running revision untouched.
  virtual Status Bring(const DownloadPlan& plan) = 0;
  // The engine's view of the blobs.
  virtual engine::BlobProvider& Blobs() = 0;
};

struct Pipeline {
  engine::Engine& engine;
  store::StateStore& store;
  const engine::Layout& layout;
  const config::LimitsConfig& limits;
};

// Installs `manifest` (verified, as `manifest_bytes`) from `source`. Errors, with nothing
// installed: admission's (Admit), and those of `source.Bring`; otherwise the engine's result.
// `options.retry_bad_by` non-empty admits a release marked bad here (retried on purpose).
Result<engine::InstallResult> InstallRelease(const Pipeline& pipeline,
                                             const manifest::Manifest& manifest,
                                             std::string_view manifest_bytes, ReleaseSource& source,
                                             const engine::InstallOptions& options);

}  // namespace ferry::update
