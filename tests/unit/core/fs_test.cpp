#include "ferry/core/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/temp_dir.hpp"

namespace ferry {
namespace {

TEST(WriteFileAtomic, WritesContentWithModeAndLeavesNoTempFile) {
  testing::TempDir dir;
  const auto path = dir / "state.json";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "hello", 0600));
  auto content = fs::ReadFile(path);
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "hello");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(WriteFileAtomic, ReplacesExistingFile) {
  testing::TempDir dir;
  const auto path = dir / "f";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "one"));
  ASSERT_TRUE(fs::WriteFileAtomic(path, "two"));
  EXPECT_EQ(*fs::ReadFile(path), "two");
}

TEST(WriteFileAtomic, MissingDirectoryIsAnErrorNamingThePath) {
  testing::TempDir dir;
  auto st = fs::WriteFileAtomic(dir / "no" / "such" / "f", "x");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("no/such/f"), std::string::npos) << st.error().message();
}

TEST(ReadFile, RefusesFilesOverTheLimit) {
  testing::TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "big", std::string(100, 'x')));
  auto r = fs::ReadFile(dir / "big", 99);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(Errc::kLimitExceeded));
}

TEST(ReadFile, MissingFileIsNotFound) {
  testing::TempDir dir;
  auto r = fs::ReadFile(dir / "absent");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(Errc::kNotFound));
}

TEST(MakeDirs, CreatesNestedDirectoriesAndIsIdempotent) {
  testing::TempDir dir;
  ASSERT_TRUE(fs::MakeDirs(dir / "a" / "b" / "c", 0700));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "a" / "b" / "c"));
  EXPECT_TRUE(fs::MakeDirs(dir / "a" / "b" / "c", 0700));
}

TEST(IsTempName, KnowsTheTempNamesOfAtomicWritesAndNothingElse) {
  EXPECT_TRUE(fs::IsTempName("current.tmp"));
  EXPECT_TRUE(fs::IsTempName("config.json.tmp.1234.987654"));
  EXPECT_FALSE(fs::IsTempName(".tmp"));
  EXPECT_FALSE(fs::IsTempName("config.json"));
  EXPECT_FALSE(fs::IsTempName("config.json.tmp.1234"));
  EXPECT_FALSE(fs::IsTempName("config.json.tmp.x.1"));
  EXPECT_FALSE(fs::IsTempName("1.0.0-abcdef"));
  EXPECT_FALSE(fs::IsTempName("tmp"));
}

// What a kill between create and rename leaves behind, removed; everything else kept.
TEST(RemoveTempFiles, RemovesLeftoversOfInterruptedWritesOnly) {
  testing::TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "config.json", "{}"));
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "config.json.tmp.41.7", "{"));
  ASSERT_EQ(::symlink("revisions/x", (dir / "current.tmp").c_str()), 0);
  std::filesystem::create_directories(dir / "subdir.tmp");
  auto removed = fs::RemoveTempFiles(dir.path());
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(*removed, 2u);
  EXPECT_TRUE(std::filesystem::exists(dir / "config.json"));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir / "current.tmp")));
  EXPECT_FALSE(std::filesystem::exists(dir / "config.json.tmp.41.7"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "subdir.tmp"));
  EXPECT_EQ(*fs::RemoveTempFiles(dir / "missing"), 0u);
}

TEST(ReplaceSymlink, SwitchesTargetAtomically) {
  testing::TempDir dir;
  const auto link = dir / "current";
  ASSERT_TRUE(fs::ReplaceSymlink(link, "revisions/1"));
  EXPECT_EQ(std::filesystem::read_symlink(link), "revisions/1");
  ASSERT_TRUE(fs::ReplaceSymlink(link, "revisions/2"));
  EXPECT_EQ(std::filesystem::read_symlink(link), "revisions/2");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir / "current.tmp")));
}

}  // namespace
}  // namespace ferry
