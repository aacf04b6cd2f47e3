// Installing a release from the repository over the network (docs/download.md): verify the signed
// metadata, refuse what the engine would refuse before a byte of layer is fetched, plan the
// cheapest downloads, check free space, fetch blobs and deltas resumably, then hand the release to
// the engine (stage, switch, trial, commit or roll back).
//
// Blocking: run it on ferryd's worker, never on the event loop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ferry/config/config.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/fetch/blob_fetcher.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/report/reporter.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/download_plan.hpp"

namespace ferry::update {

struct RemoteOptions {
  std::string repository_url;  // serves metadata/, targets/ and blobs/sha256/<hex>
  std::filesystem::path trusted_root;
  config::LimitsConfig limits;
};

// The release target of an app version in the repository: "<app>/<version>.json".
std::string ReleaseTarget(const std::string& app, const std::string& version);

class RemoteInstaller {
 public:
  // Every reference must outlive the installer. `metadata` fetches TUF metadata and release
  // manifests; `blobs` fetches layers and deltas. A download is reported to `reporter` (the
  // `downloading` event, then progress until the engine's own), as the engine's steps are.
  RemoteInstaller(engine::Engine& engine, report::Reporter& reporter, store::StateStore& store,
                  engine::Layout layout, fetch::HttpClient& metadata, fetch::BlobFetcher& blobs,
                  const Clock& clock, RemoteOptions options);

  // Installs `app` `version` from the repository. Errors, with nothing installed and the running
  // revision untouched:
  //  - a FetchErrc for a network failure (retry later; partial downloads are kept for resuming);
  //  - a TrustErrc when the metadata or the release does not verify;
  //  - Errc::kFailedPrecondition for a release the engine refuses (marked bad, a downgrade not
  //    signed as one, min_from_version);
  //  - Errc::kNoSpace when the blobs and layers would not fit with the configured margin.
  // Otherwise the engine's result: committed, already installed, failed to stage (the running
  // revision untouched) or rolled back.
  Result<engine::InstallResult> Install(const std::string& app, const std::string& version,
                                        const engine::InstallOptions& options,
                                        const fetch::CancelToken* cancel = nullptr);

  // Removes downloaded blobs, and partial downloads that no resume record refers to (all of them
  // unless `keep_resumable`). Install calls it when it ends.
  Status CollectGarbage(bool keep_resumable = true);

  // What ferryd's start-up recovery removes after a crash or power cut cut a download short:
  // partial downloads without a resume record (cut before their first record was written) and
  // anything in blobs/ that is not a blob. A partial download without a record that hashes to its
  // name was complete and cut before its rename: it is renamed into blobs/sha256. Complete,
  // verified blobs and resumable partial downloads stay, so that the next attempt (the fleet asking
  // again, `ferry update` again) does not download them again; the next install removes those it
  // does not need.
  Status SweepInterruptedDownloads();

 private:
  class RepositorySource;
  // Downloads what `plan` needs of `manifest`, reporting progress.
  Status Download(const DownloadPlan& plan, const manifest::Manifest& manifest,
                  const std::string& app, const std::string& version, const std::string& deployment,
                  const fetch::CancelToken* cancel);
  // Downloads `blob` into blobs/sha256 (unless it is there). With `unpack`, the full blob of that
  // layer, the layer is unpacked into the layer store while the blob arrives (FetchWhileUnpacking,
  // engine::UnpackLayer), and `stripped` (may be null) says what the extractor stripped; if the
  // unpacking fails while the download succeeds, the blob is kept for the engine to unpack from
  // the file at staging.
  Result<std::filesystem::path> FetchBlob(const manifest::Blob& blob, const std::string& app,
                                          const fetch::CancelToken* cancel,
                                          const manifest::Layer* unpack = nullptr,
                                          std::string* stripped = nullptr);

  engine::Engine& engine_;
  report::Reporter& reporter_;
  store::StateStore& store_;
  engine::Layout layout_;
  fetch::HttpClient& metadata_;
  fetch::BlobFetcher& blobs_;
  const Clock& clock_;
  RemoteOptions options_;
};

}  // namespace ferry::update
