#include "ferry/layout/layout.hpp"

#include "ferry/core/check.hpp"

namespace ferry::layout {
namespace {

Digest Checked(std::string_view diff_id) {
  auto digest = Digest::Parse(diff_id);
  FERRY_CHECK(digest.has_value());
  return *std::move(digest);
}

}  // namespace

std::filesystem::path Sha256Blobs(const std::filesystem::path& blobs_root) {
  return blobs_root / "sha256";
}

std::filesystem::path BlobPath(const std::filesystem::path& blobs_root, const Digest& digest) {
  return Sha256Blobs(blobs_root) / digest.hex();
}

std::filesystem::path BundleBlobs(const std::filesystem::path& bundle_root) {
  return bundle_root / "blobs";
}

std::filesystem::path LayerPath(const std::filesystem::path& layers_dir, const Digest& diff_id) {
  return layers_dir / diff_id.hex();
}

std::filesystem::path LayerStagingPath(const std::filesystem::path& layers_dir,
                                       const Digest& diff_id) {
  return Layout::BeingStaged(LayerPath(layers_dir, diff_id));
}

std::filesystem::path LayerWhiteoutsPath(const std::filesystem::path& layers_dir,
                                         const Digest& diff_id) {
  return layers_dir / (std::string(diff_id.hex()) + ".whiteouts");
}

std::filesystem::path RevisionRootfs(const std::filesystem::path& revision_dir) {
  return revision_dir / "rootfs";
}

std::filesystem::path RevisionManifest(const std::filesystem::path& revision_dir) {
  return revision_dir / "manifest.json";
}

std::filesystem::path RevisionOverlay(const std::filesystem::path& revision_dir) {
  return revision_dir / "overlay";
}

std::filesystem::path RevisionOverlayLayers(const std::filesystem::path& revision_dir) {
  return RevisionOverlay(revision_dir) / "layers";
}

std::filesystem::path RevisionOverlayUpper(const std::filesystem::path& revision_dir) {
  return RevisionOverlay(revision_dir) / "upper";
}

std::filesystem::path RevisionOverlayWork(const std::filesystem::path& revision_dir) {
  return RevisionOverlay(revision_dir) / "work";
}

std::filesystem::path RevisionBundleConfig(const std::filesystem::path& revision_dir) {
  return revision_dir / "config.json";
}

std::filesystem::path RevisionRuntimeLog(const std::filesystem::path& revision_dir) {
  return revision_dir / "runtime.log";
}

std::filesystem::path AppLogsDir(const std::filesystem::path& logs_dir, std::string_view app) {
  return logs_dir / app;
}

std::filesystem::path AppLogPath(const std::filesystem::path& app_logs_dir,
                                 std::string_view revision) {
  return app_logs_dir / (std::string(revision) + std::string(kAppLogExtension));
}

std::filesystem::path RotatedLogPath(const std::filesystem::path& log) {
  return log.string() + ".1";
}

std::filesystem::path Layout::layer(std::string_view diff_id) const {
  return layer(Checked(diff_id));
}

std::filesystem::path Layout::layer_whiteouts(const Digest& diff_id) const {
  return LayerWhiteoutsPath(layers(), diff_id);
}

std::filesystem::path Layout::layer_whiteouts(std::string_view diff_id) const {
  return layer_whiteouts(Checked(diff_id));
}

}  // namespace ferry::layout
