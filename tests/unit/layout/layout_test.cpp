#include "ferry/layout/layout.hpp"

#include <gtest/gtest.h>

namespace ferry::layout {
namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Digest D(const std::string& hex) { return *Digest::FromHex(hex); }

TEST(Layout, KeepsACompleteBlobUnderBlobsSha256AndItsHex) {
  const Layout layout("/var/lib/ferry");
  EXPECT_EQ(layout.blob(D(kHex)), "/var/lib/ferry/blobs/sha256/" + kHex);
  EXPECT_EQ(layout.sha256_blobs(), "/var/lib/ferry/blobs/sha256");
  EXPECT_EQ(layout.blob(D(kHex)).parent_path(), layout.sha256_blobs());
}

TEST(Layout, KeepsADownloadInProgressUnderBlobsPartial) {
  const Layout layout("/var/lib/ferry");
  EXPECT_EQ(layout.partial_blob(D(kHex)), "/var/lib/ferry/blobs/partial/" + kHex);
  EXPECT_EQ(layout.partial_blob(D(kHex)).parent_path(), layout.partial_blobs());
}

// An unpacked offline bundle and a repository keep their blobs as ferryd does.
TEST(BlobPath, NamesTheBlobOfADirectoryStoreByItsHex) {
  EXPECT_EQ(BlobPath("/tmp/bundle/blobs", D(kHex)), "/tmp/bundle/blobs/sha256/" + kHex);
  EXPECT_EQ(BlobPath(Layout("/s").blobs(), D(kHex)), Layout("/s").blob(D(kHex)));
}

TEST(Layout, NamesALayerAndItsWhiteoutsByTheHexOfTheDiffId) {
  const Layout layout("/s");
  EXPECT_EQ(layout.layer(D(kHex)), "/s/layers/" + kHex);
  EXPECT_EQ(layout.layer("sha256:" + kHex), "/s/layers/" + kHex);
  EXPECT_EQ(layout.layer_whiteouts(D(kHex)), "/s/layers/" + kHex + ".whiteouts");
  EXPECT_EQ(layout.layer_whiteouts("sha256:" + kHex), "/s/layers/" + kHex + ".whiteouts");
}

TEST(Layout, SpellsTheStateDirectoryOfDeviceStorage) {
  const Layout layout("/s");
  EXPECT_EQ(layout.database(), "/s/state.db");
  EXPECT_EQ(layout.lock_file(), "/s/ferryd.lock");
  EXPECT_EQ(layout.incoming_bundle(), "/s/incoming/bundle");
  EXPECT_EQ(layout.revision("web", "1.0.0-0123456789ab"),
            "/s/apps/web/revisions/1.0.0-0123456789ab");
  EXPECT_EQ(layout.current_link("web"), "/s/apps/web/current");
  EXPECT_EQ(layout.previous_link("web"), "/s/apps/web/previous");
  EXPECT_EQ(layout.volumes("web"), "/s/volumes/web");
  EXPECT_EQ(layout.app_logs("web"), "/s/logs/web");
}

// Staging a layer works in layers/ as Layout names it: devices in the field have these names.
TEST(LayerPath, NamesALayerItsStagingFolderAndItsWhiteoutsInTheLayersDir) {
  EXPECT_EQ(LayerPath("/s/layers", D(kHex)), "/s/layers/" + kHex);
  EXPECT_EQ(LayerStagingPath("/s/layers", D(kHex)), "/s/layers/" + kHex + ".partial");
  EXPECT_EQ(LayerWhiteoutsPath("/s/layers", D(kHex)), "/s/layers/" + kHex + ".whiteouts");
  const Layout layout("/s");
  EXPECT_EQ(LayerPath(layout.layers(), D(kHex)), layout.layer(D(kHex)));
  EXPECT_EQ(LayerWhiteoutsPath(layout.layers(), D(kHex)), layout.layer_whiteouts(D(kHex)));
}

TEST(Layout, NamesWhatARevisionFolderHolds) {
  const Layout layout("/s");
  const std::string rev = "/s/apps/web/revisions/1.0.0-0123456789ab";
  EXPECT_EQ(layout.revision_rootfs("web", "1.0.0-0123456789ab"), rev + "/rootfs");
  EXPECT_EQ(layout.revision_manifest("web", "1.0.0-0123456789ab"), rev + "/manifest.json");
  EXPECT_EQ(RevisionRootfs(rev), rev + "/rootfs");
  EXPECT_EQ(RevisionManifest(rev), rev + "/manifest.json");
  EXPECT_EQ(RevisionOverlay(rev), rev + "/overlay");
  EXPECT_EQ(RevisionOverlayLayers(rev), rev + "/overlay/layers");
  EXPECT_EQ(RevisionOverlayUpper(rev), rev + "/overlay/upper");
  EXPECT_EQ(RevisionOverlayWork(rev), rev + "/overlay/work");
  EXPECT_EQ(RevisionBundleConfig(rev), rev + "/config.json");
  EXPECT_EQ(RevisionRuntimeLog(rev), rev + "/runtime.log");
}

TEST(Layout, NamesAFolderBeingStagedOrRemovedBySuffix) {
  EXPECT_EQ(Layout::BeingStaged("/s/apps/web/revisions/1.0.0-0123456789ab"),
            "/s/apps/web/revisions/1.0.0-0123456789ab.partial");
  EXPECT_EQ(Layout::BeingRemoved("/s/layers/" + kHex), "/s/layers/" + kHex + ".deleting");
}

TEST(Layout, NamesARevisionsLogAndItsRotatedPart) {
  const Layout layout("/s");
  EXPECT_EQ(layout.app_log("web", "1.0.0-0123456789ab"), "/s/logs/web/1.0.0-0123456789ab.log");
  EXPECT_EQ(layout.rotated_app_log("web", "1.0.0-0123456789ab"),
            "/s/logs/web/1.0.0-0123456789ab.log.1");
  // The runtime is given the logs dir only.
  EXPECT_EQ(AppLogPath(AppLogsDir("/s/logs", "web"), "1.0.0-0123456789ab"),
            layout.app_log("web", "1.0.0-0123456789ab"));
  EXPECT_EQ(RotatedLogPath("/s/logs/web/r.log"), "/s/logs/web/r.log.1");
  EXPECT_EQ(std::filesystem::path("r.log").extension(), kAppLogExtension);
}

TEST(BundleBlobs, KeepsAnOfflineBundlesBlobsUnderBlobs) {
  EXPECT_EQ(BundleBlobs("/s/incoming/bundle"), "/s/incoming/bundle/blobs");
}

TEST(LayoutDeathTest, AbortsOnADiffIdFerryHasNotChecked) {
  EXPECT_DEATH((void)Layout("/s").layer("sha256:../../etc"), "FERRY_CHECK failed");
}

}  // namespace
}  // namespace ferry::layout
