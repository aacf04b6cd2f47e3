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

TEST(LayoutDeathTest, AbortsOnADiffIdFerryHasNotChecked) {
  EXPECT_DEATH((void)Layout("/s").layer("sha256:../../etc"), "FERRY_CHECK failed");
}

}  // namespace
}  // namespace ferry::layout
