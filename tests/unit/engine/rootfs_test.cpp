#include "rootfs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "ferry/core/fs.hpp"
#include "ferry/engine/engine.hpp"
#include "support/sentinel.hpp"
#include "support/temp_dir.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;
using ::ferry::testing::SnapshotTree;

void Write(const stdfs::path& p, const std::string& content) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

class RootfsTest : public ::testing::Test {
 protected:
  RootfsLayer Layer(const std::string& name, const std::string& whiteouts = {}) {
    stdfs::create_directories(dir_ / name);
    if (!whiteouts.empty()) {
      EXPECT_TRUE(fs::WriteFileAtomic(dir_ / (name + ".whiteouts"), whiteouts));
    }
    return {dir_ / name, dir_ / (name + ".whiteouts")};
  }
  testing::TempDir dir_;
};

TEST_F(RootfsTest, UpperLayersOverrideLowerOnes) {
  auto l1 = Layer("l1");
  Write(l1.dir / "etc/conf", "old");
  Write(l1.dir / "bin/app", "app");
  auto l2 = Layer("l2");
  Write(l2.dir / "etc/conf", "new");
  ASSERT_TRUE(AssembleRootfs({l1, l2}, dir_ / "rootfs", false));
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/etc/conf"), "new");
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/bin/app"), "app");
  EXPECT_TRUE(stdfs::equivalent(dir_ / "rootfs/bin/app", l1.dir / "bin/app"));
}

TEST_F(RootfsTest, WhiteoutsHideLowerEntriesAndOpaqueDirsHideTheirContents) {
  auto l1 = Layer("l1");
  Write(l1.dir / "etc/old.conf", "x");
  Write(l1.dir / "etc/keep.conf", "k");
  Write(l1.dir / "var/cache/a", "a");
  Write(l1.dir / "var/cache/sub/b", "b");
  auto l2 = Layer("l2", std::string("etc/old.conf\0var/cache/.wh..wh..opq\0", 36));
  Write(l2.dir / "var/cache/fresh", "f");
  auto st = AssembleRootfs({l1, l2}, dir_ / "rootfs", false);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_FALSE(stdfs::exists(dir_ / "rootfs/etc/old.conf"));
  EXPECT_TRUE(stdfs::exists(dir_ / "rootfs/etc/keep.conf"));
  EXPECT_FALSE(stdfs::exists(dir_ / "rootfs/var/cache/a"));
  EXPECT_FALSE(stdfs::exists(dir_ / "rootfs/var/cache/sub"));
  EXPECT_TRUE(stdfs::exists(dir_ / "rootfs/var/cache/fresh"));
}

// More directories than the in-memory part of a RecordSpill holds, and a directory wider than one
// batch of an opaque whiteout's removal: every directory keeps its own mode, every lower entry of
// the opaque directory is gone.
TEST_F(RootfsTest, ManyAndWideDirectoriesAreAssembledWhole) {
  auto l1 = Layer("l1");
  constexpr int kDirs = 20000;
  stdfs::create_directories(l1.dir / "wide");
  for (int i = 0; i < kDirs; ++i) {
    const stdfs::path d = l1.dir / "wide" / ("dir-" + std::to_string(i));
    ASSERT_EQ(::mkdir(d.c_str(), 0750), 0);
  }
  Write(l1.dir / "deep/a/b/c/file", "deep");
  ASSERT_EQ(::chmod((l1.dir / "deep/a/b").c_str(), 0711), 0);
  constexpr int kCached = 6000;
  stdfs::create_directories(l1.dir / "cache");
  for (int i = 0; i < kCached; ++i) {
    Write(l1.dir / "cache" / ("entry-" + std::to_string(i)), "x");
  }
  auto l2 = Layer("l2", std::string("cache/.wh..wh..opq\0", 19));
  Write(l2.dir / "cache/fresh", "f");
  auto st = AssembleRootfs({l1, l2}, dir_ / "rootfs", false);
  ASSERT_TRUE(st) << st.error().message();
  int seen = 0;
  for (const auto& e : stdfs::directory_iterator(dir_ / "rootfs/wide")) {
    struct stat info {};
    ASSERT_EQ(::lstat(e.path().c_str(), &info), 0);
    EXPECT_TRUE(S_ISDIR(info.st_mode)) << e.path();
    EXPECT_EQ(info.st_mode & 07777, 0750u) << e.path();
    ++seen;
  }
  EXPECT_EQ(seen, kDirs);
  struct stat b {};
  ASSERT_EQ(::lstat((dir_ / "rootfs/deep/a/b").c_str(), &b), 0);
  EXPECT_EQ(b.st_mode & 07777, 0711u);
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/deep/a/b/c/file"), "deep");
  std::vector<std::string> cached;
  for (const auto& e : stdfs::directory_iterator(dir_ / "rootfs/cache")) {
    cached.push_back(e.path().filename().string());
  }
  EXPECT_EQ(cached, std::vector<std::string>{"fresh"});
}

TEST_F(RootfsTest, SymlinksAreCopiedNotFollowed) {
  auto l1 = Layer("l1");
  stdfs::create_directories(l1.dir);
  stdfs::create_symlink("/etc", l1.dir / "hostetc");
  ASSERT_TRUE(AssembleRootfs({l1}, dir_ / "rootfs", false));
  EXPECT_TRUE(stdfs::is_symlink(dir_ / "rootfs/hostetc"));
  EXPECT_EQ(stdfs::read_symlink(dir_ / "rootfs/hostetc"), "/etc");
}

TEST_F(RootfsTest, WhiteoutThroughASymlinkNeverTouchesTheHost) {
  testing::TempDir outside;
  Write(outside / "precious", "keep me");
  auto l1 = Layer("l1");
  stdfs::create_directories(l1.dir);
  stdfs::create_symlink(outside.path(), l1.dir / "escape");
  auto l2 = Layer("l2", std::string("escape/precious\0", 16));
  ASSERT_TRUE(AssembleRootfs({l1, l2}, dir_ / "rootfs", false));
  EXPECT_EQ(*fs::ReadFile(outside / "precious"), "keep me");
}

TEST_F(RootfsTest, DirectoryReplacesALowerSymlinkOfTheSameName) {
  testing::TempDir outside;
  auto l1 = Layer("l1");
  stdfs::create_directories(l1.dir);
  stdfs::create_symlink(outside.path(), l1.dir / "lib");
  auto l2 = Layer("l2");
  Write(l2.dir / "lib/libc.so", "libc");
  ASSERT_TRUE(AssembleRootfs({l1, l2}, dir_ / "rootfs", false));
  EXPECT_FALSE(stdfs::is_symlink(dir_ / "rootfs/lib"));
  EXPECT_TRUE(stdfs::exists(dir_ / "rootfs/lib/libc.so"));
  EXPECT_FALSE(stdfs::exists(outside / "libc.so"));
}

// The finding of issue #15: the upper layer makes a lower layer's directory `a/` (holding
// `a/sub/`) a symlink to a host directory that also holds `sub/`. Setting the lower directories'
// owners and modes must never reach the host's `sub/` through the symlink; the upper layer's
// symlink wins, as in overlayfs, and nothing of the lower `a/` is left.
class SymlinkOverDirectoryTest : public RootfsTest, public ::testing::WithParamInterface<bool> {};

TEST_P(SymlinkOverDirectoryTest, NeverChangesTheHostDirectoryBehindTheSymlink) {
  testing::TempDir outside;
  stdfs::create_directories(outside / "sub");
  Write(outside / "sub/file", "host");
  ::chmod((outside / "sub").c_str(), 0755);
  auto l1 = Layer("l1");
  Write(l1.dir / "a/sub/inner", "lower");
  ::chmod((l1.dir / "a/sub").c_str(), 0700);
  ::chmod((l1.dir / "a").c_str(), 0750);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown((l1.dir / "a/sub").c_str(), 4242, 4242), 0);
  }
  auto l2 = Layer("l2", std::string("a/sub/inner\0a/.wh..wh..opq\0", 27));
  stdfs::create_directories(l2.dir);
  stdfs::create_symlink(outside.path(), l2.dir / "a");
  Write(l2.dir / "marker", "l2");
  const auto before = SnapshotTree(outside.path());

  auto st = AssembleRootfs({l1, l2}, dir_ / "rootfs", GetParam());
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(SnapshotTree(outside.path()), before);
  EXPECT_TRUE(stdfs::is_symlink(dir_ / "rootfs/a"));
  EXPECT_EQ(stdfs::read_symlink(dir_ / "rootfs/a"), outside.path());
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/marker"), "l2");
}

TEST_P(SymlinkOverDirectoryTest, ThirdLayerThroughTheSymlinkStaysInside) {
  // A third layer that makes `a/` a directory again gets a fresh one: the lower `a/sub` is gone.
  testing::TempDir outside;
  stdfs::create_directories(outside / "sub");
  auto l1 = Layer("l1");
  Write(l1.dir / "a/sub/inner", "lower");
  ::chmod((l1.dir / "a/sub").c_str(), 0700);
  auto l2 = Layer("l2");
  stdfs::create_directories(l2.dir);
  stdfs::create_symlink(outside.path(), l2.dir / "a");
  auto l3 = Layer("l3");
  Write(l3.dir / "a/sub/new", "third");
  ::chmod((l3.dir / "a/sub").c_str(), 0711);
  const auto before = SnapshotTree(outside.path());

  auto st = AssembleRootfs({l1, l2, l3}, dir_ / "rootfs", GetParam());
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(SnapshotTree(outside.path()), before);
  EXPECT_FALSE(stdfs::is_symlink(dir_ / "rootfs/a"));
  EXPECT_FALSE(stdfs::exists(dir_ / "rootfs/a/sub/inner"));
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/a/sub/new"), "third");
  struct stat sub {};
  ASSERT_EQ(::lstat((dir_ / "rootfs/a/sub").c_str(), &sub), 0);
  EXPECT_EQ(sub.st_mode & 07777, 0711u);
}

TEST_P(SymlinkOverDirectoryTest, FileOverDirectoryHidesTheLowerSubtree) {
  auto l1 = Layer("l1");
  Write(l1.dir / "d/x", "lower");
  auto l2 = Layer("l2");
  Write(l2.dir / "d", "a file now");
  auto st = AssembleRootfs({l1, l2}, dir_ / "rootfs", GetParam());
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/d"), "a file now");
}

INSTANTIATE_TEST_SUITE_P(LinkedAndCopied, SymlinkOverDirectoryTest, ::testing::Bool(),
                         [](const auto& param_info) {
                           return param_info.param ? "Copied" : "Linked";
                         });

TEST_F(RootfsTest, UnsafeWhiteoutPathIsRefused) {
  auto l1 = Layer("l1", std::string("../../etc/passwd\0", 17));
  auto st = AssembleRootfs({l1}, dir_ / "rootfs", false);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("unsafe whiteout path"), std::string::npos);
}

TEST_F(RootfsTest, WritableRootGetsCopiesNotLinks) {
  auto l1 = Layer("l1");
  Write(l1.dir / "data", "d");
  ASSERT_TRUE(AssembleRootfs({l1}, dir_ / "rootfs", true));
  EXPECT_FALSE(stdfs::equivalent(dir_ / "rootfs/data", l1.dir / "data"));
  EXPECT_EQ(*fs::ReadFile(dir_ / "rootfs/data"), "d");
}

TEST_F(RootfsTest, ExistingTargetIsRefused) {
  stdfs::create_directories(dir_ / "rootfs");
  EXPECT_FALSE(AssembleRootfs({}, dir_ / "rootfs", false));
}

}  // namespace
}  // namespace ferry::engine

namespace ferry::engine {
namespace {

TEST(RootfsMode, ParsesTheConfigValues) {
  for (auto mode : {RootfsMode::kAuto, RootfsMode::kOverlay, RootfsMode::kHardlink}) {
    auto parsed = ParseRootfsMode(RootfsModeName(mode));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, mode);
  }
  auto bad = ParseRootfsMode("zfs");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().Is(Errc::kInvalidArgument));
  EXPECT_NE(bad.error().message().find("'zfs'"), std::string::npos);
}

}  // namespace
}  // namespace ferry::engine
