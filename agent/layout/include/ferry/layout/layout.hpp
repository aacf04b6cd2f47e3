// Where ferryd keeps things under its state directory (docs/architecture.md, Device storage), and
// where a directory blob store keeps a blob. No other file spells a path under the state
// directory. Every path is derived from validated names and digests, never from raw input.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "ferry/core/digest.hpp"

namespace ferry::layout {

// <blobs_root>/sha256/: where a directory blob store keeps its blobs, each named by the hex of its
// digest. ferryd's own store (Layout::blobs()), an unpacked offline bundle's blobs/ and a
// repository's blobs/ are laid out alike.
std::filesystem::path Sha256Blobs(const std::filesystem::path& blobs_root);
// <blobs_root>/sha256/<hex> for "sha256:<hex>".
std::filesystem::path BlobPath(const std::filesystem::path& blobs_root, const Digest& digest);
// <bundle_root>/blobs: the blobs of an unpacked offline bundle (Layout::incoming_bundle()).
std::filesystem::path BundleBlobs(const std::filesystem::path& bundle_root);

// <layers_dir>/<hex>/ for "sha256:<hex>": an extracted layer (Layout::layer()).
std::filesystem::path LayerPath(const std::filesystem::path& layers_dir, const Digest& diff_id);
// <layers_dir>/<hex>.partial/: the layer while it is extracted and verified.
std::filesystem::path LayerStagingPath(const std::filesystem::path& layers_dir,
                                       const Digest& diff_id);
// <layers_dir>/<hex>.whiteouts: the layer's whiteouts, listed for an overlay root filesystem.
std::filesystem::path LayerWhiteoutsPath(const std::filesystem::path& layers_dir,
                                         const Digest& diff_id);

// What a revision folder (Layout::revision()) holds, for code that has the folder only.
// <dir>/rootfs/: the container's root filesystem (an overlay mount point, or a hardlink farm).
std::filesystem::path RevisionRootfs(const std::filesystem::path& revision_dir);
// <dir>/manifest.json: the manifest the revision was staged from.
std::filesystem::path RevisionManifest(const std::filesystem::path& revision_dir);
// <dir>/overlay/: the overlay's own files: layers (the lower dirs), upper/ and work/.
std::filesystem::path RevisionOverlay(const std::filesystem::path& revision_dir);
std::filesystem::path RevisionOverlayLayers(const std::filesystem::path& revision_dir);
std::filesystem::path RevisionOverlayUpper(const std::filesystem::path& revision_dir);
std::filesystem::path RevisionOverlayWork(const std::filesystem::path& revision_dir);
// A revision folder is the container's OCI bundle: <dir>/config.json is its runtime config, and
// <dir>/runtime.log runc's own JSON log of the last create.
std::filesystem::path RevisionBundleConfig(const std::filesystem::path& revision_dir);
std::filesystem::path RevisionRuntimeLog(const std::filesystem::path& revision_dir);

// <logs_dir>/<app>/: an app's container logs (Layout::app_logs()).
std::filesystem::path AppLogsDir(const std::filesystem::path& logs_dir, std::string_view app);
// <app_logs_dir>/<revision>.log: a revision's container output, appended to.
std::filesystem::path AppLogPath(const std::filesystem::path& app_logs_dir,
                                 std::string_view revision);
// <log>.1: the older part of `log`, kept by a rotation.
std::filesystem::path RotatedLogPath(const std::filesystem::path& log);
inline constexpr std::string_view kAppLogExtension = ".log";

class Layout {
 public:
  explicit Layout(std::filesystem::path state_dir) : root_(std::move(state_dir)) {}

  const std::filesystem::path& root() const { return root_; }
  // Held with an exclusive flock by the one ferryd that works in this state directory.
  std::filesystem::path lock_file() const { return root_ / "ferryd.lock"; }
  std::filesystem::path database() const { return root_ / "state.db"; }
  std::filesystem::path blobs() const { return root_ / "blobs"; }
  // blobs/sha256/<hex>: downloaded blobs, complete and verified.
  std::filesystem::path sha256_blobs() const { return Sha256Blobs(blobs()); }
  std::filesystem::path blob(const Digest& digest) const { return BlobPath(blobs(), digest); }
  // blobs/partial/<hex>: downloads in progress, resumed with HTTP Range.
  std::filesystem::path partial_blobs() const { return blobs() / "partial"; }
  std::filesystem::path partial_blob(const Digest& digest) const {
    return partial_blobs() / digest.hex();
  }
  // incoming/: an offline bundle being unpacked and verified; incoming/bundle/ the one in hand.
  std::filesystem::path incoming() const { return root_ / "incoming"; }
  std::filesystem::path incoming_bundle() const { return incoming() / "bundle"; }
  std::filesystem::path layers() const { return root_ / "layers"; }
  // layers/<hex>/ for "sha256:<hex>". The string forms take a diff_id Ferry has checked already (a
  // parsed manifest's or the state store's); anything else is a bug in Ferry and aborts.
  std::filesystem::path layer(const Digest& diff_id) const { return LayerPath(layers(), diff_id); }
  std::filesystem::path layer(std::string_view diff_id) const;
  std::filesystem::path layer_whiteouts(const Digest& diff_id) const;
  std::filesystem::path layer_whiteouts(std::string_view diff_id) const;
  std::filesystem::path app(std::string_view app) const { return root_ / "apps" / app; }
  std::filesystem::path revisions(std::string_view app) const {
    return this->app(app) / "revisions";
  }
  std::filesystem::path revision(std::string_view app, std::string_view id) const {
    return revisions(app) / id;
  }
  std::filesystem::path revision_rootfs(std::string_view app, std::string_view id) const {
    return RevisionRootfs(revision(app, id));
  }
  std::filesystem::path revision_manifest(std::string_view app, std::string_view id) const {
    return RevisionManifest(revision(app, id));
  }
  std::filesystem::path current_link(std::string_view app) const {
    return this->app(app) / "current";
  }
  std::filesystem::path previous_link(std::string_view app) const {
    return this->app(app) / "previous";
  }
  std::filesystem::path volumes(std::string_view app) const { return root_ / "volumes" / app; }
  std::filesystem::path logs() const { return root_ / "logs"; }
  std::filesystem::path app_logs(std::string_view app) const { return AppLogsDir(logs(), app); }
  // logs/<app>/<revision>.log, and logs/<app>/<revision>.log.1 after a rotation.
  std::filesystem::path app_log(std::string_view app, std::string_view revision) const {
    return AppLogPath(app_logs(app), revision);
  }
  std::filesystem::path rotated_app_log(std::string_view app, std::string_view revision) const {
    return RotatedLogPath(app_log(app, revision));
  }
  // Where a layer or revision folder is moved, durably, before it is removed: the rename is the
  // deletion's intent, and start-up recovery finishes what a crash interrupted. A folder is
  // complete under its own name or not there at all.
  static std::filesystem::path BeingRemoved(const std::filesystem::path& dir) {
    return dir.string() + std::string(kBeingRemovedSuffix);
  }
  static constexpr std::string_view kBeingRemovedSuffix = ".deleting";
  // Where a layer or revision folder is built before it is renamed into place; start-up removes
  // what a crash left there.
  static std::filesystem::path BeingStaged(const std::filesystem::path& dir) {
    return dir.string() + std::string(kBeingStagedSuffix);
  }
  static constexpr std::string_view kBeingStagedSuffix = ".partial";

 private:
  std::filesystem::path root_;
};

}  // namespace ferry::layout
