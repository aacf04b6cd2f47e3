#include "whiteout_index.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "ferry/core/fs.hpp"
#include "rootfs.hpp"
#include "support/temp_dir.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

std::string List(const std::vector<std::string>& entries) {
  std::string out;
  for (const auto& e : entries) {
    out += e;
    out += '\0';
  }
  return out;
}

std::vector<std::string> Path(std::initializer_list<const char*> parts) {
  return {parts.begin(), parts.end()};
}

// "d<i>/f<j>" for i < dirs, j < per_dir: the shape of the bench's million-whiteouts layer.
std::vector<std::string> ManyWhiteouts(int dirs, int per_dir) {
  std::vector<std::string> out;
  for (int i = 0; i < dirs; ++i) {
    for (int j = 0; j < per_dir; ++j) {
      out.push_back("d" + std::to_string(i) + "/f" + std::to_string(j));
    }
  }
  return out;
}

class WhiteoutIndexTest : public ::testing::Test {
 protected:
  stdfs::path Write(const std::string& name, const std::string& list) {
    EXPECT_TRUE(fs::WriteFileAtomic(dir_ / name, list));
    return dir_ / name;
  }
  testing::TempDir dir_;
};

TEST_F(WhiteoutIndexTest, AbsentListHidesNothing) {
  auto index = WhiteoutIndex::Read(dir_ / "none.whiteouts");
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_EQ(index->size(), 0u);
  EXPECT_FALSE(index->Hides(Path({"etc"})));
  EXPECT_FALSE(index->Opaque(""));
}

TEST_F(WhiteoutIndexTest, RemovedPathHidesItselfAndItsSubtreeOnly) {
  auto index = WhiteoutIndex::Read(Write("l.whiteouts", List({"etc/old.conf", "opt"})));
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_TRUE(index->Removed("etc/old.conf"));
  EXPECT_TRUE(index->Removed("opt"));
  EXPECT_FALSE(index->Removed("etc"));
  EXPECT_FALSE(index->Opaque("etc/old.conf"));
  EXPECT_TRUE(index->Hides(Path({"etc", "old.conf"})));
  EXPECT_TRUE(index->Hides(Path({"opt", "app", "bin"})));
  EXPECT_FALSE(index->Hides(Path({"etc"})));
  EXPECT_FALSE(index->Hides(Path({"etc", "old.conf2"})));
  EXPECT_FALSE(index->Hides(Path({"etc", "old"})));
  EXPECT_FALSE(index->Hides(Path({"optional"})));
}

TEST_F(WhiteoutIndexTest, OpaqueDirectoryHidesWhatIsBelowItButNotItself) {
  auto index = WhiteoutIndex::Read(Write("l.whiteouts", List({"var/cache/.wh..wh..opq"})));
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_TRUE(index->Opaque("var/cache"));
  EXPECT_FALSE(index->Removed("var/cache"));
  EXPECT_FALSE(index->Removed("var/cache/.wh..wh..opq"));
  EXPECT_FALSE(index->Hides(Path({"var", "cache"})));
  EXPECT_TRUE(index->Hides(Path({"var", "cache", "a"})));
  EXPECT_TRUE(index->Hides(Path({"var", "cache", "sub", "b"})));
  EXPECT_FALSE(index->Hides(Path({"var", "lib"})));
  EXPECT_FALSE(index->Opaque(""));
}

TEST_F(WhiteoutIndexTest, RootOpaqueHidesEverything) {
  auto index = WhiteoutIndex::Read(Write("l.whiteouts", List({".wh..wh..opq"})));
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_TRUE(index->Opaque(""));
  EXPECT_TRUE(index->Hides(Path({"etc"})));
  EXPECT_TRUE(index->Hides(Path({"etc", "conf"})));
}

TEST_F(WhiteoutIndexTest, AnOpaqueMarkerWithoutADirectoryIsAPlainPath) {
  // As the path sets did: "/.wh..wh..opq" names no directory, so it is kept as a removed path.
  auto index = WhiteoutIndex::Read(Write("l.whiteouts", List({"/.wh..wh..opq"})));
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_TRUE(index->Removed("/.wh..wh..opq"));
  EXPECT_FALSE(index->Opaque(""));
}

TEST_F(WhiteoutIndexTest, NestedPathsAndAListWithoutAFinalNul) {
  std::string list = List({"a/b/.wh..wh..opq", "x/y/z"});
  list += "last/entry";  // no terminating NUL
  auto index = WhiteoutIndex::Read(Write("l.whiteouts", list));
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_EQ(index->size(), 3u);
  EXPECT_FALSE(index->Hides(Path({"a", "b"})));
  EXPECT_TRUE(index->Hides(Path({"a", "b", "c", "d"})));
  EXPECT_FALSE(index->Hides(Path({"x", "y"})));
  EXPECT_TRUE(index->Hides(Path({"x", "y", "z"})));
  EXPECT_TRUE(index->Hides(Path({"x", "y", "z", "w"})));
  EXPECT_TRUE(index->Removed("last/entry"));
  EXPECT_FALSE(index->Removed("last"));
}

TEST_F(WhiteoutIndexTest, EntriesCutByChunkBoundariesAreWhole) {
  const std::vector<std::string> entries = {"etc/passwd", "usr/share/doc/.wh..wh..opq", "opt/a", "",
                                            "b"};
  const stdfs::path file = Write("l.whiteouts", List(entries));
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 13u}) {
    std::vector<std::string> seen;
    ASSERT_TRUE(ForEachWhiteoutEntry(
        file,
        [&](std::string_view e) -> Status {
          seen.emplace_back(e);
          return Ok();
        },
        chunk));
    EXPECT_EQ(seen,
              (std::vector<std::string>{"etc/passwd", "usr/share/doc/.wh..wh..opq", "opt/a", "b"}))
        << "chunk " << chunk;
    auto index = WhiteoutIndex::Read(file, chunk);
    ASSERT_TRUE(index);
    EXPECT_TRUE(index->Removed("etc/passwd"));
    EXPECT_TRUE(index->Opaque("usr/share/doc"));
    EXPECT_TRUE(index->Removed("opt/a"));
    EXPECT_TRUE(index->Removed("b"));
  }
}

TEST_F(WhiteoutIndexTest, ListReadInManyChunksKeepsEveryEntry) {
  // 200,000 entries: about 1.6 MB, seven chunks of 256 KiB.
  const std::vector<std::string> entries = ManyWhiteouts(200, 1000);
  const std::string list = List(entries);
  ASSERT_GT(list.size(), 6u * 256 * 1024);
  auto index = WhiteoutIndex::Read(Write("l.whiteouts", list));
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_EQ(index->size(), entries.size());
  for (const auto& e : entries) {
    ASSERT_TRUE(index->Removed(e)) << e;
  }
  EXPECT_FALSE(index->Removed("d0"));
  EXPECT_FALSE(index->Removed("d200/f0"));
  EXPECT_FALSE(index->Removed("d0/f1000"));
  EXPECT_FALSE(index->Hides(Path({"d199"})));
  EXPECT_TRUE(index->Hides(Path({"d199", "f999", "below"})));
}

TEST_F(WhiteoutIndexTest, ListOverTheBoundIsRefused) {
  const stdfs::path file = dir_ / "big.whiteouts";
  ASSERT_EQ(::truncate(Write("big.whiteouts", "x").c_str(),
                       static_cast<off_t>(kMaxWhiteoutListBytes + 1)),
            0);
  auto index = WhiteoutIndex::Read(file);
  ASSERT_FALSE(index);
  EXPECT_TRUE(index.error().Is(Errc::kLimitExceeded)) << index.error().message();
}

// The whole engine path, with a list of several chunks whose hiding entry comes last.
class LargeWhiteoutListStackTest : public WhiteoutIndexTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::MakeDirs(dir_ / "base/d7/f3"));
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "base/d7/f3/kept", "k"));
    ASSERT_TRUE(fs::MakeDirs(dir_ / "base/lib"));
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "base/lib/libc.so", "c"));
    ASSERT_TRUE(fs::MakeDirs(dir_ / "top"));
    entries_ = ManyWhiteouts(150, 1000);  // over a MB
  }
  std::vector<std::string> entries_;
};

TEST_F(LargeWhiteoutListStackTest, SymlinkOverAWhitedOutDirectoryIsAccepted) {
  entries_.push_back("lib");
  Write("top.whiteouts", List(entries_));
  stdfs::create_symlink("/elsewhere", dir_ / "top/lib");
  const std::vector<RootfsLayer> stack = {{dir_ / "base", dir_ / "base.whiteouts"},
                                          {dir_ / "top", dir_ / "top.whiteouts"}};
  auto st = CheckLayerStack(stack);
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_TRUE(AssembleRootfs(stack, dir_ / "rootfs", false));
  EXPECT_TRUE(stdfs::is_symlink(dir_ / "rootfs/lib"));
  EXPECT_FALSE(stdfs::exists(dir_ / "rootfs/d7/f3"));  // whited out, among the first entries
  EXPECT_TRUE(stdfs::is_directory(dir_ / "rootfs/d7"));
}

TEST_F(LargeWhiteoutListStackTest, SymlinkOverAVisibleDirectoryIsRefused) {
  Write("top.whiteouts", List(entries_));  // "lib" not among them
  stdfs::create_symlink("/elsewhere", dir_ / "top/lib");
  auto st = CheckLayerStack(
      {{dir_ / "base", dir_ / "base.whiteouts"}, {dir_ / "top", dir_ / "top.whiteouts"}});
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(Errc::kUnsupported)) << st.error().message();
}

}  // namespace
}  // namespace ferry::engine
