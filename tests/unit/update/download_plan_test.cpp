#include "ferry/update/download_plan.hpp"

#include <gtest/gtest.h>

#include "ferry/config/config.hpp"
#include "support/temp_dir.hpp"

namespace ferry::update {
namespace {

std::string Id(char c) { return "sha256:" + std::string(64, c); }

manifest::Blob MakeBlob(char c, std::uint64_t size) { return {Id(c), size}; }

manifest::Layer MakeLayer(char id, std::uint64_t tar_size, std::uint64_t blob_size,
                          std::vector<manifest::Delta> deltas = {}) {
  manifest::Layer l;
  l.diff_id = Id(id);
  l.size = tar_size;
  l.blob = MakeBlob(static_cast<char>(id + 1), blob_size);
  l.deltas = std::move(deltas);
  return l;
}

manifest::Delta MakeDelta(char from, char blob, std::uint64_t size) {
  return {Id(from), MakeBlob(blob, size)};
}

TEST(PlanDownloads, PresentLayersCostNothing) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', 1000, 400), MakeLayer('c', 2000, 900)};
  const DownloadPlan plan = PlanDownloads(m, {Id('a'), Id('c')});
  ASSERT_EQ(plan.steps.size(), 2u);
  EXPECT_EQ(plan.steps[0].source, LayerSource::kPresent);
  EXPECT_EQ(plan.steps[1].source, LayerSource::kPresent);
  EXPECT_EQ(plan.download_bytes, 0u);
  EXPECT_EQ(plan.unpacked_bytes, 0u);
}

TEST(PlanDownloads, MissingLayerWithoutUsableDeltaTakesTheFullBlob) {
  manifest::Manifest m;
  // The delta's base is not on the device.
  m.layers = {MakeLayer('a', 1000, 400, {MakeDelta('x', 'd', 10)})};
  const DownloadPlan plan = PlanDownloads(m, {Id('y')});
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].source, LayerSource::kFullBlob);
  EXPECT_EQ(plan.steps[0].blob.digest, Id('b'));
  EXPECT_EQ(plan.steps[0].blob.size, 400u);
  EXPECT_EQ(plan.steps[0].unpacked_size, 1000u);
  EXPECT_EQ(plan.download_bytes, 400u);
  EXPECT_EQ(plan.unpacked_bytes, 1000u);
}

TEST(PlanDownloads, PicksTheSmallestDeltaFromAPresentLayer) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', 5000, 2000,
                        {MakeDelta('p', 'd', 300), MakeDelta('q', 'e', 150),
                         MakeDelta('z', 'f', 50),  // smallest, but its base is absent
                         MakeDelta('r', '0', 700)})};
  const DownloadPlan plan = PlanDownloads(m, {Id('p'), Id('q'), Id('r')});
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].source, LayerSource::kDelta);
  EXPECT_EQ(plan.steps[0].from_diff_id, Id('q'));
  EXPECT_EQ(plan.steps[0].blob.digest, Id('e'));
  EXPECT_EQ(plan.download_bytes, 150u);
  EXPECT_EQ(plan.unpacked_bytes, 5000u);
}

TEST(PlanDownloads, ADeltaNoSmallerThanTheBlobLosesToTheBlob) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', 5000, 300, {MakeDelta('p', 'd', 300), MakeDelta('q', 'e', 900)})};
  const DownloadPlan plan = PlanDownloads(m, {Id('p'), Id('q')});
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].source, LayerSource::kFullBlob);
  EXPECT_EQ(plan.download_bytes, 300u);
}

TEST(PlanDownloads, MixesSourcesAndSumsOnlyWhatIsDownloaded) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', 100, 40), MakeLayer('c', 1000, 400, {MakeDelta('a', 'd', 25)}),
              MakeLayer('e', 3000, 1200)};
  const DownloadPlan plan = PlanDownloads(m, {Id('a')});
  ASSERT_EQ(plan.steps.size(), 3u);
  EXPECT_EQ(plan.steps[0].source, LayerSource::kPresent);
  EXPECT_EQ(plan.steps[1].source, LayerSource::kDelta);
  EXPECT_EQ(plan.steps[2].source, LayerSource::kFullBlob);
  EXPECT_EQ(plan.download_bytes, 25u + 1200u);
  EXPECT_EQ(plan.unpacked_bytes, 1000u + 3000u);
  EXPECT_EQ(plan.steps[0].diff_id, Id('a'));
  EXPECT_EQ(plan.steps[2].diff_id, Id('e'));
}

TEST(PlanDownloads, ALayerListedTwiceIsFetchedOnce) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', 100, 40), MakeLayer('c', 10, 5), MakeLayer('a', 100, 40)};
  const DownloadPlan plan = PlanDownloads(m, {});
  ASSERT_EQ(plan.steps.size(), 2u);
  EXPECT_EQ(plan.download_bytes, 45u);
  EXPECT_EQ(plan.unpacked_bytes, 110u);
}

TEST(PlanDownloads, ADeltaFromALayerOfTheSameReleaseThatIsNotYetPresentIsNotUsed) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', 100, 40), MakeLayer('c', 1000, 400, {MakeDelta('a', 'd', 25)})};
  const DownloadPlan plan = PlanDownloads(m, {});
  ASSERT_EQ(plan.steps.size(), 2u);
  EXPECT_EQ(plan.steps[1].source, LayerSource::kFullBlob);
  EXPECT_EQ(plan.download_bytes, 440u);
}

TEST(PlanDownloads, HugeSizesSaturateInsteadOfWrapping) {
  manifest::Manifest m;
  m.layers = {MakeLayer('a', UINT64_MAX, UINT64_MAX - 1), MakeLayer('c', 10, 10)};
  const DownloadPlan plan = PlanDownloads(m, {});
  EXPECT_EQ(plan.download_bytes, UINT64_MAX);
  EXPECT_EQ(plan.unpacked_bytes, UINT64_MAX);
}

TEST(CheckFreeSpace, PassesWhenTheFilesystemHasRoom) {
  testing::TempDir dir;
  config::LimitsConfig limits;
  limits.min_free_bytes = 0;
  limits.min_free_inodes = 0;
  EXPECT_TRUE(CheckFreeSpace(dir.path(), 1, 1, limits));
}

TEST(CheckFreeSpace, AShortfallSaysWhatIsNeededAndWhatIsFree) {
  testing::TempDir dir;
  config::LimitsConfig limits;
  const std::uint64_t absurd = 1ull << 60;  // an exbibyte: no test machine has it
  const Status s = CheckFreeSpace(dir.path(), absurd, 0, limits);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().Is(Errc::kNoSpace)) << s.error().String();
  EXPECT_NE(s.error().message().find("need 1099511627776.0 MiB"), std::string::npos)
      << s.error().message();
  EXPECT_NE(s.error().message().find("free"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find(dir.path().string()), std::string::npos);
}

TEST(CheckFreeSpace, TheMarginCountsAgainstFreeSpace) {
  testing::TempDir dir;
  config::LimitsConfig limits;
  limits.min_free_bytes = 1ull << 60;
  const Status s = CheckFreeSpace(dir.path(), 1, 0, limits);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().Is(Errc::kNoSpace));
  EXPECT_NE(s.error().message().find("margin"), std::string::npos) << s.error().message();
}

TEST(CheckFreeSpace, AnInodeShortfallIsNoSpaceToo) {
  testing::TempDir dir;
  config::LimitsConfig limits;
  limits.min_free_bytes = 0;
  const Status s = CheckFreeSpace(dir.path(), 0, 1ull << 62, limits);
  if (s) {
    GTEST_SKIP() << "this filesystem reports no inode count";
  }
  EXPECT_TRUE(s.error().Is(Errc::kNoSpace));
  EXPECT_NE(s.error().message().find("inodes"), std::string::npos) << s.error().message();
}

TEST(CheckFreeSpace, AMissingDirectoryIsAnIoError) {
  testing::TempDir dir;
  const Status s = CheckFreeSpace(dir / "absent", 0, 0, config::LimitsConfig{});
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().Is(Errc::kIo));
}

}  // namespace
}  // namespace ferry::update
