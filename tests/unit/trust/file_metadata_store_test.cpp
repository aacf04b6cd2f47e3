#include "ferry/trust/file_metadata_store.hpp"

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace ferry::trust {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(FileMetadataStore, StoresExactBytesAndSurvivesReopen) {
  ferry::testing::TempDir dir;
  {
    FileMetadataStore store(dir / "md");
    auto none = store.Load("root");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(store.Save("root", "{ \"x\" : 1 }\n", 1, system_clock::time_point{}));
    ASSERT_TRUE(store.Save("../evil", "e", 1, system_clock::time_point{}));
  }
  FileMetadataStore store(dir / "md");
  auto root = store.Load("root");
  ASSERT_TRUE(root && root->has_value());
  EXPECT_EQ(**root, "{ \"x\" : 1 }\n");
  EXPECT_TRUE(std::filesystem::exists(dir / "md" / "root.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "md" / "..%2Fevil.json"));
  ASSERT_TRUE(store.Remove("root"));
  ASSERT_TRUE(store.Remove("root"));  // absent: not an error
  EXPECT_FALSE(store.Load("root")->has_value());
}

TEST(FileMetadataStore, TimeFloorOnlyRises) {
  ferry::testing::TempDir dir;
  FileMetadataStore store(dir / "md");
  EXPECT_EQ(*store.TimeFloor(), system_clock::time_point{});
  ASSERT_TRUE(store.RaiseTimeFloor(system_clock::time_point(seconds(2000))));
  ASSERT_TRUE(store.RaiseTimeFloor(system_clock::time_point(seconds(1000))));
  FileMetadataStore reopened(dir / "md");
  EXPECT_EQ(*reopened.TimeFloor(), system_clock::time_point(seconds(2000)));
}

}  // namespace
}  // namespace ferry::trust
