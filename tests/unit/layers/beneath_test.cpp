#include "ferry/layers/beneath.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "ferry/core/error.hpp"
#include "ferry/core/unique_fd.hpp"
#include "support/temp_dir.hpp"

namespace ferry::layers {
namespace {

namespace stdfs = std::filesystem;

UniqueFd OpenDir(const stdfs::path& p) {
  return UniqueFd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

void MakeFiles(const stdfs::path& dir, int count) {
  stdfs::create_directories(dir);
  for (int i = 0; i < count; ++i) {
    std::ofstream(dir / ("f" + std::to_string(i))) << i;
  }
}

TEST(Beneath, ListNamesStopsAtItsLimitAndForEachNameSeesEveryName) {
  testing::TempDir tmp;
  MakeFiles(tmp.path() / "d", 50);
  auto fd = OpenDir(tmp.path() / "d");
  ASSERT_TRUE(fd.valid());
  auto all = ListNames(fd.get(), "d");
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->size(), 50u);
  auto some = ListNames(fd.get(), "d", 7);
  ASSERT_TRUE(some);
  EXPECT_EQ(some->size(), 7u);
  std::set<std::string> seen;
  ASSERT_TRUE(ForEachName(fd.get(), "d", [&](const std::string& name) -> Status {
    seen.insert(name);
    return Ok();
  }));
  EXPECT_EQ(seen, std::set<std::string>(all->begin(), all->end()));
  EXPECT_FALSE(seen.contains(".") || seen.contains(".."));
}

TEST(Beneath, ForEachNameStopsAtTheFirstError) {
  testing::TempDir tmp;
  MakeFiles(tmp.path() / "d", 10);
  auto fd = OpenDir(tmp.path() / "d");
  int visited = 0;
  auto st = ForEachName(fd.get(), "d", [&](const std::string&) -> Status {
    return ++visited == 3 ? Fail(Errc::kCorrupt, "third") : Ok();
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "third");
  EXPECT_EQ(visited, 3);
}

// Wider than one batch of names, with a directory inside that its owner cannot write.
TEST(Beneath, RemoveAtEmptiesADirectoryWiderThanOneBatch) {
  testing::TempDir tmp;
  MakeFiles(tmp.path() / "tree/wide", 10000);
  MakeFiles(tmp.path() / "tree/wide/locked", 3);
  ASSERT_EQ(::chmod((tmp.path() / "tree/wide/locked").c_str(), 0500), 0);
  auto fd = OpenDir(tmp.path());
  auto st = RemoveAt(fd.get(), "tree", "tree");
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_FALSE(stdfs::exists(tmp.path() / "tree"));
}

}  // namespace
}  // namespace ferry::layers
