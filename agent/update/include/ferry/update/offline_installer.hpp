// Installing a release from an offline bundle (`ferry install BUNDLE`, docs/repository.md): check
// that the bundle fits, unpack it into incoming/ and verify it against the device's trusted root,
// then the same admission and hand-over to the engine as a release from the repository
// (RemoteInstaller): signature, version, bad and interrupted revisions, compatibility, free space.
//
// Blocking: run it on ferryd's worker, never on the event loop.
#pragma once

#include <filesystem>
#include <string>

#include "ferry/bundle/bundle.hpp"
#include "ferry/config/config.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/fetch/blob_fetcher.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::update {

struct OfflineOptions {
  std::filesystem::path trusted_root;
  config::LimitsConfig limits;
};

// What a bundle held, and how its install ended.
struct BundleInstall {
  std::string app;
  std::string version;
  engine::InstallResult result;
};

class OfflineInstaller {
 public:
  // Every reference must outlive the installer.
  OfflineInstaller(engine::Engine& engine, store::StateStore& store, engine::Layout layout,
                   const Clock& clock, OfflineOptions options);

  // Installs the release in `bundle`. Errors, with nothing installed and the running revision
  // untouched:
  //  - Errc::kNoSpace when the bundle, or its layers once unpacked, would not fit with the
  //    configured margin;
  //  - a TrustErrc (or a bundle error) when the bundle does not unpack or does not verify;
  //  - Errc::kFailedPrecondition for a release the engine refuses (marked bad unless
  //    `options.retry_bad_by` says who retries it, a downgrade not signed as one,
  //    min_from_version);
  //  - Errc::kCancelled when `cancel` is cancelled while unpacking or staging.
  // Otherwise the engine's result. The unpacked bundle is removed when it ends.
  Result<BundleInstall> Install(const bundle::BundleFile& bundle,
                                const engine::InstallOptions& options,
                                const fetch::CancelToken* cancel = nullptr);

  // What ferryd's start-up recovery removes after a crash or power cut cut an offline install
  // short: the unpacked bundle in incoming/.
  Status SweepInterrupted();

 private:
  engine::Engine& engine_;
  store::StateStore& store_;
  engine::Layout layout_;
  const Clock& clock_;
  OfflineOptions options_;
};

}  // namespace ferry::update
