#include "agent/delta/tar_scan.hpp"

#include <gtest/gtest.h>

#include "tar_builder.hpp"

namespace ferry::testing {
namespace {

using delta::ScanTar;

// Regions must tile the tar exactly; content regions hold exactly the files' bytes.
void ExpectTiling(const std::string& tar, const delta::TarScan& scan) {
  std::uint64_t pos = 0;
  for (const auto& r : scan.regions) {
    EXPECT_EQ(r.offset, pos);
    pos += r.size;
  }
  EXPECT_EQ(pos, tar.size());
}

TEST(TarScan, FindsContentsOfGnuAndPaxEntries) {
  for (auto format : {TarBuilder::Format::kGnu, TarBuilder::Format::kPax}) {
    std::string long_name = "dir/" + std::string(150, 'n') + "/file";
    TarBuilder b(format);
    b.Dir("./dir/").File("./dir/a", "alpha").File(long_name, "long", 0644, {{"user.x", "1"}});
    b.File("dir/empty", "").Hardlink("dir/b", "./dir/a").Symlink("dir/c", "a");
    std::string tar = b.Finish();
    delta::TarScan scan = ScanTar(tar);
    ExpectTiling(tar, scan);
    std::vector<std::pair<std::string, std::string>> contents;
    for (const auto& r : scan.regions) {
      if (r.is_content) {
        contents.emplace_back(r.path, tar.substr(r.offset, r.size));
      }
    }
    ASSERT_EQ(contents.size(), 2u);
    EXPECT_EQ(contents[0], std::make_pair(std::string("dir/a"), std::string("alpha")));
    EXPECT_EQ(contents[1], std::make_pair(long_name, std::string("long")));
    ASSERT_EQ(scan.hardlinks.size(), 1u);
    EXPECT_EQ(scan.hardlinks[0], std::make_pair(std::string("dir/b"), std::string("dir/a")));
  }
}

TEST(TarScan, GarbageIsOneRegion) {
  std::string junk = RandomBytes(3000, 4);
  delta::TarScan scan = ScanTar(junk);
  ASSERT_EQ(scan.regions.size(), 1u);
  EXPECT_FALSE(scan.regions[0].is_content);
  EXPECT_EQ(scan.regions[0].size, junk.size());
}

TEST(TarScan, TruncatedTarKeepsEveryByte) {
  TarBuilder b(TarBuilder::Format::kGnu);
  b.File("a", RandomBytes(5000, 1));
  std::string tar = b.Finish().substr(0, 2000);
  ExpectTiling(tar, ScanTar(tar));
}

}  // namespace
}  // namespace ferry::testing
