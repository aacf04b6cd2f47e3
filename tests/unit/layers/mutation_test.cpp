// Whatever the bytes: layers made by flipping random bytes of hostile layers (headers, pax records,
// link names) are refused or extracted, and nothing outside the root ever changes. A seeded,
// repeatable stand-in for the extraction fuzzer's oracle.
#include <filesystem>
#include <random>

#include "layer_fixture.hpp"
#include "tar_builder.hpp"

namespace ferry::layers::testing {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> Seeds(const LayerTest& t) {
  const std::string out = t.outside().string();
  std::vector<std::string> seeds;
  seeds.push_back(TarBuilder()
                      .Symlink("l", "../outside")
                      .File("a/b", "data")
                      .Hardlink("h", "a/b")
                      .File("l2/x", "y")
                      .Finish());
  seeds.push_back(TarBuilder(TarFormat::kGnu)
                      .Symlink("aa", out)
                      .Dir("aa2")
                      .File("aa2/sentinel", "evil")
                      .Symlink("bb", "../outside/sentinel")
                      .File("bb2", "z")
                      .Finish());
  seeds.push_back(TarBuilder(TarFormat::kUstar)
                      .Dir("d")
                      .Symlink("e", "../outside/sentineldir")
                      .File("d/.wh.x", "")
                      .File("d/f", "1", 04755)
                      .Finish());
  seeds.push_back(TarBuilder()
                      .Entry(
                          "p",
                          [](archive_entry* e) {
                            archive_entry_xattr_add_entry(e, "user.a", "1", 1);
                            archive_entry_set_size(e, 100000);
                            archive_entry_sparse_add_entry(e, 0, 10);
                            archive_entry_sparse_add_entry(e, 50000, 10);
                          },
                          std::string(50010, 'q'))
                      .Symlink("o", "..")
                      .File("o0/outside/sentinel", "evil")
                      .Finish());
  return seeds;
}

TEST_F(LayerTest, RandomlyMutatedLayersNeverReachOutside) {
  std::mt19937_64 rng(20261123);
  const std::vector<std::string> seeds = Seeds(*this);
  const Snapshot before = TakeSnapshot();
  int extracted = 0;
  constexpr int kIterations = 400;
  for (int i = 0; i < kIterations; ++i) {
    std::string tar = seeds[static_cast<std::size_t>(i) % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      // Mostly header bytes (the first blocks), where names, types and sizes live.
      const std::size_t limit =
          rng() % 4 == 0 ? tar.size() : std::min<std::size_t>(tar.size(), 2048);
      const std::size_t at = rng() % limit;
      switch (rng() % 4) {
        case 0:
          tar[at] = static_cast<char>(rng());
          break;
        case 1:
          tar[at] = '/';
          break;
        case 2:
          tar[at] = '.';
          break;
        default:
          tar[at] = '\0';
          break;
      }
    }
    // A fresh root inside the fixture's root, so that making it changes nothing outside.
    const fs::path dest = root() / std::to_string(i);
    ASSERT_TRUE(fs::create_directory(dest));
    MemorySource source(Bytes(tar), 1 + rng() % 5000);
    if (ExtractLayer(source, dest, DefaultPolicy()).has_value()) {
      ++extracted;
    }
    ASSERT_TRUE(RemoveTree(dest).has_value());
    ASSERT_EQ(TakeSnapshot(), before) << "iteration " << i << " changed something outside";
  }
  // The mutations must leave some layers readable, or the test would prove nothing.
  EXPECT_GT(extracted, kIterations / 20);
}

}  // namespace
}  // namespace ferry::layers::testing
