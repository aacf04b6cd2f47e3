// StageLayer: a layer reaches <layers>/<hex>/ only complete, synced and with the expected digest;
// every failure leaves neither a .partial nor a final directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "ferry/core/crashpoint.hpp"
#include "ferry/core/fs.hpp"
#include "layer_fixture.hpp"
#include "support/process.hpp"
#include "tar_builder.hpp"

namespace ferry::layers::testing {
namespace {
namespace fs = std::filesystem;

class StageTest : public LayerTest {
 public:
  fs::path layers() const { return tmp_ / "layers"; }
  std::vector<std::string> LayerDirEntries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(layers())) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  Result<ExtractResult> Stage(const std::string& tar, std::string_view diff_id,
                              const ExtractPolicy& policy) {
    MemorySource source(Bytes(tar));
    return StageLayer(source, layers(), diff_id, policy);
  }
  Result<ExtractResult> Stage(const std::string& tar, std::string_view diff_id) {
    return Stage(tar, diff_id, DefaultPolicy());
  }
};

std::string SampleLayer() {
  return TarBuilder().Dir("etc").File("etc/os-release", "ID=ferry\n").Finish();
}

TEST_F(StageTest, GoodLayerLandsUnderItsHex) {
  const std::string tar = SampleLayer();
  const std::string hex = Sha256Hex(tar);
  auto result = Stage(tar, "sha256:" + hex);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->digest, "sha256:" + hex);
  EXPECT_EQ(ReadAll(layers() / hex / "etc/os-release"), "ID=ferry\n");
  EXPECT_EQ(LayerDirEntries(), std::vector<std::string>{hex});
}

TEST_F(StageTest, StopInsideALargeFileEndsWithinAFewMiBAndLeavesNothing) {
  const std::string tar = TarBuilder().File("big", std::string(64u << 20, 'x')).Finish();
  ExtractPolicy policy = DefaultPolicy();
  int asked = 0;
  policy.stop_requested = [&asked] { return ++asked > 2; };
  MemorySource source(Bytes(tar));
  std::uint64_t read = 0;
  CallbackSource counting([&]() -> Result<std::span<const std::byte>> {
    auto chunk = source.Next();
    if (chunk) {
      read += chunk->size();
    }
    return chunk;
  });
  auto result = StageLayer(counting, layers(), "sha256:" + Sha256Hex(tar), policy);
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(Errc::kCancelled)) << result.error().message();
  EXPECT_NE(result.error().message().find("ferryd is stopping"), std::string::npos);
  EXPECT_LT(read, 16u << 20) << "the stop was seen only after " << read << " bytes";
  EXPECT_TRUE(LayerDirEntries().empty());
}

TEST_F(StageTest, StopBetweenEntriesLeavesNothing) {
  TarBuilder builder;
  for (int i = 0; i < 100; ++i) {
    builder.File("f" + std::to_string(i), "x");
  }
  const std::string tar = builder.Finish();
  ExtractPolicy policy = DefaultPolicy();
  int asked = 0;
  policy.stop_requested = [&asked] { return ++asked > 10; };
  auto result = Stage(tar, "sha256:" + Sha256Hex(tar), policy);
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(Errc::kCancelled)) << result.error().message();
  EXPECT_LE(asked, 11);
  EXPECT_TRUE(LayerDirEntries().empty());
}

TEST_F(StageTest, MoreEntriesThanTheManifestDeclaresAreRefusedAtTheFirstOneOver) {
  TarBuilder builder;
  for (int i = 0; i < 2000; ++i) {
    builder.File("f" + std::to_string(i), std::string(1000, 'x'));
  }
  const std::string tar = builder.Finish();
  ExtractPolicy policy = DefaultPolicy();
  policy.declared_entries = 10;
  MemorySource source(Bytes(tar), 4096);
  std::uint64_t read = 0;
  CallbackSource counting([&]() -> Result<std::span<const std::byte>> {
    auto chunk = source.Next();
    if (chunk) {
      read += chunk->size();
    }
    return chunk;
  });
  const std::string diff_id = "sha256:" + Sha256Hex(tar);
  auto result = StageLayer(counting, layers(), diff_id, policy);
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kTooManyEntries)) << result.error().message();
  EXPECT_EQ(result.error().message(),
            "staging layer " + diff_id +
                ": entry \"f10\": the layer has more entries than the 10 its manifest declares");
  EXPECT_LT(read, 64u << 10) << "refused only after " << read << " of " << tar.size() << " bytes";
  EXPECT_TRUE(LayerDirEntries().empty());
}

TEST_F(StageTest, FilesLargerThanTheDeclaredUnpackedSizeAreRefusedBeforeTheyAreWritten) {
  const std::string tar = TarBuilder()
                              .File("a", std::string(600, 'a'))
                              .File("b", std::string(600, 'b'))
                              .File("c", std::string(1 << 20, 'c'))
                              .Finish();
  ExtractPolicy policy = DefaultPolicy();
  policy.declared_unpacked_size = 1000;
  const std::string diff_id = "sha256:" + Sha256Hex(tar);
  auto result = Stage(tar, diff_id, policy);
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kLayerTooLarge)) << result.error().message();
  EXPECT_EQ(result.error().message(),
            "staging layer " + diff_id +
                ": entry \"b\": the layer's files exceed the unpacked size of 1000 bytes its "
                "manifest declares");
  EXPECT_TRUE(LayerDirEntries().empty());
}

TEST_F(StageTest, ALayerExactlyAtItsDeclaredFiguresIsStaged) {
  const std::string tar =
      TarBuilder().Dir("etc").File("etc/a", "12345").File("etc/b", "678").Finish();
  ExtractPolicy policy = DefaultPolicy();
  policy.declared_entries = 3;
  policy.declared_unpacked_size = 8;
  auto result = Stage(tar, "sha256:" + Sha256Hex(tar), policy);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->entries, 3u);
}

TEST_F(StageTest, WrongDiffIdLeavesNothing) {
  const std::string tar = SampleLayer();
  const std::string wrong = "sha256:" + std::string(64, 'a');
  auto result = Stage(tar, wrong);
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kDigestMismatch)) << result.error().message();
  EXPECT_NE(result.error().message().find(Sha256Hex(tar)), std::string::npos);
  EXPECT_NE(result.error().message().find(wrong), std::string::npos);
  EXPECT_TRUE(LayerDirEntries().empty());
}

TEST_F(StageTest, MalformedDiffIdIsRefusedBeforeTouchingTheDisk) {
  for (const std::string& bad : std::vector<std::string>{
           "sha256:../../x", "sha256:" + std::string(64, 'A'), "sha256:" + std::string(63, 'a'),
           "sha256:" + std::string(65, 'a'), "sha512:" + std::string(64, 'a'),
           "sha256:" + std::string(62, 'a') + "/x", "sha256:" + std::string(63, 'a') + '\0', "",
           std::string(64, 'a')}) {
    auto result = Stage(SampleLayer(), bad);
    ASSERT_FALSE(result.has_value());
    EXPECT_TRUE(result.error().Is(LayersErrc::kBadDiffId)) << result.error().message();
    EXPECT_FALSE(fs::exists(layers()));
  }
  EXPECT_TRUE(IsValidDiffId("sha256:" + std::string(64, 'f')));
}

TEST_F(StageTest, HostileLayerLeavesNothing) {
  const std::string tar =
      TarBuilder().File("ok", "1").Symlink("l", "../outside").File("l/x", "evil").Finish();
  const Snapshot before = TakeSnapshot();
  auto result = Stage(tar, "sha256:" + Sha256Hex(tar));
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kSymlinkInPath)) << result.error().message();
  EXPECT_NE(result.error().message().find("staging layer sha256:"), std::string::npos);
  EXPECT_TRUE(LayerDirEntries().empty());
  Snapshot after = TakeSnapshot();
  after.erase(layers().string());
  Snapshot before_no_layers = before;
  before_no_layers.erase(tmp_.path().string());
  after.erase(tmp_.path().string());
  EXPECT_EQ(after, before_no_layers);
}

TEST_F(StageTest, LeftoverPartialIsReplaced) {
  const std::string tar = SampleLayer();
  const std::string hex = Sha256Hex(tar);
  ASSERT_TRUE(ferry::fs::MakeDirs(layers() / (hex + ".partial") / "stale" / "ro").has_value());
  fs::permissions(layers() / (hex + ".partial") / "stale", fs::perms::owner_read);
  auto result = Stage(tar, "sha256:" + hex);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_FALSE(fs::exists(layers() / hex / "stale"));
  EXPECT_EQ(LayerDirEntries(), std::vector<std::string>{hex});
}

TEST_F(StageTest, ReadOnlyTreeIsRemovedOnMismatch) {
  const std::string tar =
      TarBuilder().Dir("ro", 0500).Dir("ro/inner", 0500).File("ro/inner/f", "x", 0400).Finish();
  auto result = Stage(tar, "sha256:" + std::string(64, '0'));
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(LayerDirEntries().empty());
}

TEST_F(StageTest, ExistingLayerIsNotReplaced) {
  const std::string tar = SampleLayer();
  const std::string hex = Sha256Hex(tar);
  ASSERT_TRUE(Stage(tar, "sha256:" + hex).has_value());
  auto again = Stage(tar, "sha256:" + hex);
  ASSERT_FALSE(again.has_value());
  EXPECT_TRUE(again.error().Is(Errc::kAlreadyExists));
  EXPECT_EQ(LayerDirEntries(), std::vector<std::string>{hex});
}

TEST_F(StageTest, ListedWhiteoutsAreWrittenBesideTheLayer) {
  ExtractPolicy policy = DefaultPolicy();
  policy.whiteouts = WhiteoutMode::kList;
  const std::string tar =
      TarBuilder().File("etc/.wh.old", "").File("var/.wh..wh..opq", "").Finish();
  const std::string hex = Sha256Hex(tar);
  ASSERT_TRUE(Stage(tar, "sha256:" + hex, policy).has_value());
  EXPECT_EQ(ReadAll(layers() / (hex + ".whiteouts")),
            std::string("etc/old\0var/.wh..wh..opq\0", 25));
}

TEST_F(StageTest, ManyWhiteoutsAreAllListedInTheirOrder) {
  // More whiteouts than the extractor keeps in memory: the rest wait in a temporary file, and the
  // list beside the layer is written in several pieces.
  ExtractPolicy policy = DefaultPolicy();
  policy.whiteouts = WhiteoutMode::kList;
  TarBuilder builder;
  std::string expected;
  constexpr int kWhiteouts = 60'000;
  for (int i = 0; i < kWhiteouts; ++i) {
    const std::string dir = "dir" + std::to_string(i % 97);
    if (i % 1000 == 0) {
      builder.File(dir + "/.wh..wh..opq", "");
      expected += dir + "/.wh..wh..opq";
    } else {
      const std::string name = "a-hidden-file-" + std::to_string(i);
      builder.File(dir + "/.wh." + name, "");
      expected += dir + "/" + name;
    }
    expected += '\0';
  }
  const std::string tar = builder.Finish();
  const std::string hex = Sha256Hex(tar);
  auto result = Stage(tar, "sha256:" + hex, policy);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->whiteouts.size(), static_cast<std::uint64_t>(kWhiteouts));
  const std::string listed = ReadAll(layers() / (hex + ".whiteouts"));
  EXPECT_EQ(listed.size(), expected.size());
  EXPECT_TRUE(listed == expected) << "the list differs from the layer's whiteouts";
  auto again = result->whiteouts.ToVector();
  ASSERT_TRUE(again.has_value()) << again.error().message();
  ASSERT_EQ(again->size(), static_cast<std::size_t>(kWhiteouts));
  EXPECT_EQ(again->back().path, "dir" + std::to_string((kWhiteouts - 1) % 97) + "/a-hidden-file-" +
                                    std::to_string(kWhiteouts - 1));
}

TEST(StageCrashpoints, AreRegistered) {
  const auto names = RegisteredCrashpoints();
  for (const char* name : {"layers.extract.after-entry", "layers.extract.before-drain",
                           "layers.stage.after-extract", "layers.stage.after-sync",
                           "layers.stage.after-whiteout-list", "layers.stage.after-rename"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

// A crash anywhere before the rename leaves no final directory, and the next attempt succeeds; a
// crash after it leaves the complete layer.
class StageCrash : public StageTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(StageCrash, NextAttemptConverges) {
  const std::string tar = SampleLayer();
  const std::string hex = Sha256Hex(tar);
  const std::string point = GetParam();
  ASSERT_TRUE(ferry::fs::WriteFileAtomic(tmp_ / "layer.tar", tar).has_value());
  const auto run = ferry::testing::Run(
      {LAYERS_STAGE_HELPER, (tmp_ / "layer.tar").string(), layers().string(), "sha256:" + hex},
      {{"FERRY_CRASHPOINT", point}});
  ASSERT_EQ(run.exit_code, kCrashpointExitStatus) << run.err;
  const bool renamed = point == "layers.stage.after-rename";
  EXPECT_EQ(fs::exists(layers() / hex), renamed);
  const auto again = ferry::testing::Run(
      {LAYERS_STAGE_HELPER, (tmp_ / "layer.tar").string(), layers().string(), "sha256:" + hex});
  if (renamed) {
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  } else {
    EXPECT_EQ(again.exit_code, 0) << again.err;
  }
  EXPECT_EQ(ReadAll(layers() / hex / "etc/os-release"), "ID=ferry\n");
  EXPECT_FALSE(fs::exists(layers() / (hex + ".partial")));
}

INSTANTIATE_TEST_SUITE_P(Points, StageCrash,
                         ::testing::Values("layers.extract.after-entry:2",
                                           "layers.extract.before-drain",
                                           "layers.stage.after-extract", "layers.stage.after-sync",
                                           "layers.stage.after-whiteout-list",
                                           "layers.stage.after-rename"),
                         [](const auto& param_info) {
                           std::string name;
                           for (const char c : std::string(param_info.param)) {
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace ferry::layers::testing
