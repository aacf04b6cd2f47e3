// Overlay root filesystems: built, mounted, mounted again after a "reboot", unmounted before
// removal, and the hardlink farm wherever overlay cannot serve (whiteouts, too many layers, a
// kernel or a process that may not mount it). Needs root; a kernel without overlayfs skips.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "release_builder.hpp"
#include "revision_rootfs.hpp"
#include "support/advancing_sleeper.hpp"
#include "support/fake_runtime.hpp"
#include "support/mounts.hpp"
#include "support/prerequisite.hpp"
#include "support/temp_dir.hpp"

namespace ferry::engine {
namespace {

using namespace std::chrono_literals;
namespace stdfs = std::filesystem;
using ::ferry::testing::OverlayUnavailable;

class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = OverlayUnavailable(dir_ / "probe"); !why.empty()) {
      FERRY_SKIP_UNLESS_PREPARED("overlay mounts are not available here: " << why);
    }
    ResetOverlayProbeForTesting();
    stdfs::create_directories(layers_);
  }

  void TearDown() override {
    engine_.reset();
    store_.reset();
    testing::UnmountAllBelow(dir_.path());
  }

  // A layer directory in the store, with `whiteouts` written as the extractor writes its list.
  RootfsLayer MakeLayer(const std::map<std::string, std::string>& files,
                        const std::vector<std::string>& whiteouts = {}) {
    const std::string hex = Sha256Digest("layer" + std::to_string(counter_++)).substr(7);
    const stdfs::path d = layers_ / hex;
    stdfs::create_directories(d);
    for (const auto& [path, content] : files) {
      stdfs::create_directories((d / path).parent_path());
      std::ofstream(d / path) << content;
    }
    std::string list;
    for (const auto& w : whiteouts) {
      list += w + '\0';
    }
    std::ofstream(layers_ / (hex + ".whiteouts")) << list;
    return {d, layers_ / (hex + ".whiteouts")};
  }

  std::string Read(const stdfs::path& p) {
    auto r = fs::ReadFile(p);
    return r ? *r : "<" + r.error().message() + ">";
  }

  int MountCount(const stdfs::path& p) {
    int n = 0;
    for (const auto& m : testing::MountsBelow(p)) {
      n += m == p ? 1 : 0;
    }
    return n;
  }

  testing::TempDir dir_;
  stdfs::path layers_ = dir_ / "layers";
  stdfs::path rev_ = dir_ / "rev";
  int counter_ = 0;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(OverlayTest, OverlayMountsRemountsAndIsRemovedWithoutTouchingLayers) {
  const auto base = MakeLayer({{"bin/app", "app"}, {"etc/conf", "base"}});
  const auto top = MakeLayer({{"etc/conf", "top"}});
  stdfs::create_directories(rev_);
  auto kind = BuildRevisionRootfs({base, top}, rev_, /*writable=*/false, RootfsMode::kAuto);
  ASSERT_TRUE(kind) << kind.error().message();
  EXPECT_EQ(*kind, RootfsKind::kOverlay);
  EXPECT_EQ(RevisionRootfsKind(rev_), RootfsKind::kOverlay);
  EXPECT_EQ(MountCount(rev_ / "rootfs"), 0) << "staging leaves it unmounted";
  EXPECT_TRUE(stdfs::is_empty(rev_ / "rootfs"));

  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_));
  EXPECT_EQ(Read(rev_ / "rootfs/etc/conf"), "top") << "the top layer wins";
  EXPECT_EQ(Read(rev_ / "rootfs/bin/app"), "app");
  // The runtime creates its mount points in the root: they land in the upper dir.
  stdfs::create_directory(rev_ / "rootfs/proc");
  EXPECT_TRUE(stdfs::is_directory(rev_ / "overlay/upper/proc"));
  EXPECT_FALSE(stdfs::exists(top.dir / "proc"));
  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_));
  EXPECT_EQ(MountCount(rev_ / "rootfs"), 1) << "mounting again is a no-op";

  // A reboot: the mount is gone, the revision folder says how to make it again.
  ASSERT_EQ(::umount2((rev_ / "rootfs").c_str(), 0), 0);
  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_));
  EXPECT_EQ(Read(rev_ / "rootfs/etc/conf"), "top");

  auto removed = RemoveRevisionDir(rev_);
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_FALSE(stdfs::exists(rev_));
  EXPECT_EQ(testing::MountsBelow(dir_.path()).size(), 0u);
  EXPECT_EQ(Read(base.dir / "etc/conf"), "base") << "the layers are untouched";
  EXPECT_EQ(Read(top.dir / "etc/conf"), "top");
}

TEST_F(OverlayTest, SingleLayerOverlayWorks) {
  const auto only = MakeLayer({{"bin/app", "app"}});
  stdfs::create_directories(rev_);
  auto kind = BuildRevisionRootfs({only}, rev_, false, RootfsMode::kOverlay);
  ASSERT_TRUE(kind) << kind.error().message();
  EXPECT_EQ(*kind, RootfsKind::kOverlay);
  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_));
  EXPECT_EQ(Read(rev_ / "rootfs/bin/app"), "app");
}

TEST_F(OverlayTest, WritableRootWritesToItsUpperDirOnly) {
  const auto base = MakeLayer({{"etc/conf", "base"}});
  stdfs::create_directories(rev_);
  auto kind = BuildRevisionRootfs({base}, rev_, /*writable=*/true, RootfsMode::kAuto);
  ASSERT_TRUE(kind) << kind.error().message();
  ASSERT_EQ(*kind, RootfsKind::kOverlay);
  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_));
  std::ofstream(rev_ / "rootfs/etc/conf") << "changed";
  EXPECT_EQ(Read(rev_ / "rootfs/etc/conf"), "changed");
  EXPECT_EQ(Read(base.dir / "etc/conf"), "base") << "a layer is never written";
  ASSERT_TRUE(UnmountRevisionRootfs(rev_));
  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_));
  EXPECT_EQ(Read(rev_ / "rootfs/etc/conf"), "changed") << "writes survive a remount";
  ASSERT_TRUE(RemoveRevisionDir(rev_));
  EXPECT_EQ(Read(base.dir / "etc/conf"), "base");
}

TEST_F(OverlayTest, LayersWithWhiteoutsGetAHardlinkFarm) {
  const auto base = MakeLayer({{"etc/conf", "base"}, {"etc/old", "old"}});
  const auto top = MakeLayer({{"etc/new", "new"}}, {"etc/old"});
  stdfs::create_directories(rev_);
  auto kind = BuildRevisionRootfs({base, top}, rev_, false, RootfsMode::kOverlay);
  ASSERT_TRUE(kind) << kind.error().message();
  EXPECT_EQ(*kind, RootfsKind::kHardlink);
  EXPECT_EQ(RevisionRootfsKind(rev_), RootfsKind::kHardlink);
  EXPECT_FALSE(stdfs::exists(rev_ / "rootfs/etc/old")) << "the whiteout is honoured";
  EXPECT_EQ(Read(rev_ / "rootfs/etc/new"), "new");
  ASSERT_TRUE(MountRevisionRootfs(layers_, rev_)) << "nothing to mount for a hardlink farm";
  EXPECT_EQ(MountCount(rev_ / "rootfs"), 0);
}

TEST_F(OverlayTest, TooManyLayersForTheMountOptionsGetAHardlinkFarm) {
  std::vector<RootfsLayer> many;
  for (int i = 0; i < 60; ++i) {  // 60 × 64 hex digits and the path before them > one page
    many.push_back(MakeLayer({{"f" + std::to_string(i), std::to_string(i)}}));
  }
  stdfs::create_directories(rev_);
  auto kind = BuildRevisionRootfs(many, rev_, false, RootfsMode::kAuto);
  ASSERT_TRUE(kind) << kind.error().message();
  EXPECT_EQ(*kind, RootfsKind::kHardlink);
  EXPECT_EQ(Read(rev_ / "rootfs/f59"), "59");
}

TEST_F(OverlayTest, HardlinkModeNeverMounts) {
  const auto base = MakeLayer({{"bin/app", "app"}});
  stdfs::create_directories(rev_);
  auto kind = BuildRevisionRootfs({base}, rev_, false, RootfsMode::kHardlink);
  ASSERT_TRUE(kind);
  EXPECT_EQ(*kind, RootfsKind::kHardlink);
  EXPECT_TRUE(stdfs::equivalent(rev_ / "rootfs/bin/app", base.dir / "bin/app"));
}

// In a child without CAP_SYS_ADMIN the mount fails: auto falls back, overlay mode fails.
TEST_F(OverlayTest, AProcessThatMayNotMountFallsBackInAutoModeOnly) {
  const auto base = MakeLayer({{"bin/app", "app"}});
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
      ::_exit(10);
    }
    data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
    if (::syscall(SYS_capset, &header, data) != 0) {
      ::_exit(11);
    }
    const stdfs::path forced = dir_ / "forced";
    stdfs::create_directories(forced);
    auto refused = BuildRevisionRootfs({base}, forced, false, RootfsMode::kOverlay);
    if (refused || refused.error().message().find("rootfs = \"overlay\"") == std::string::npos) {
      ::_exit(12);
    }
    if (stdfs::exists(forced / "rootfs") || stdfs::exists(forced / "overlay")) {
      ::_exit(13);  // the failed attempt is cleaned up
    }
    stdfs::create_directories(rev_);
    auto kind = BuildRevisionRootfs({base}, rev_, false, RootfsMode::kAuto);
    if (!kind || *kind != RootfsKind::kHardlink || !stdfs::exists(rev_ / "rootfs/bin/app")) {
      ::_exit(14);
    }
    // The failure is remembered: the next revision goes straight to the hardlink farm.
    const stdfs::path next = dir_ / "next";
    stdfs::create_directories(next);
    kind = BuildRevisionRootfs({base}, next, false, RootfsMode::kAuto);
    ::_exit(kind && *kind == RootfsKind::kHardlink ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10-11: capabilities; 12: overlay mode did not fail; "
                                       "13: leftovers; 14-15: auto did not fall back";
}

// The engine around it, with the fake runtime: staged as overlay, mounted before start, mounted
// again after a reboot, unmounted before garbage collection and before a leftover is removed.
class OverlayEngineTest : public OverlayTest {
 protected:
  void SetUp() override {
    OverlayTest::SetUp();
    if (IsSkipped()) {
      return;
    }
    state_ = dir_ / "state";
    stdfs::create_directories(state_);
    OpenEngine(runtime_);
  }

  void OpenEngine(runtime::ContainerRuntime& rt) {
    engine_.reset();
    reporter_.reset();
    store_.reset();
    auto s = store::OpenStateStore(Layout(state_).database(), clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    EngineOptions options;
    options.stop_grace = 1s;
    options.keep_revisions = 1;
    engine_ = std::make_unique<Engine>(Layout(state_), *store_, *reporter_, rt, clock_, sleeper_,
                                       options);
  }

  manifest::Manifest Release(const std::string& v) {
    return builder_.Release("web", v, {base_, builder_.Layer({{{"etc/version", v}}, {}})});
  }

  std::string Install(const manifest::Manifest& m) {
    DirBlobProvider blobs(builder_.blob_dir());
    auto r = engine_->Install(m, manifest::SerializeManifest(m), blobs);
    EXPECT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
    return RevisionId(m.version.String(), Sha256Digest(manifest::SerializeManifest(m)));
  }

  stdfs::path Rev(const std::string& id) { return state_ / "apps/web/revisions" / id; }

  using Sleeper = testing::AdvancingSleeper;

  stdfs::path state_;
  testing::TempDir work_;
  testing::ReleaseBuilder builder_{work_.path()};
  testing::BuiltLayer base_ = builder_.Layer({{{"bin/app", "app"}}, {}});
  ManualClock clock_;
  Sleeper sleeper_{clock_};
  testing::FakeRuntime runtime_;
};

TEST_F(OverlayEngineTest, RevisionsAreOverlaysMountedBeforeStartAndAfterAReboot) {
  const std::string v1 = Install(Release("1.0.0"));
  EXPECT_EQ(RevisionRootfsKind(Rev(v1)), RootfsKind::kOverlay);
  EXPECT_EQ(MountCount(Rev(v1) / "rootfs"), 1) << "mounted for its container";
  EXPECT_EQ(Read(state_ / "apps/web/current/rootfs/etc/version"), "1.0.0");
  EXPECT_EQ(runtime_.Get(ContainerId("web", v1))->spec.rootfs, Rev(v1) / "rootfs");

  // A power cut: no mounts, no containers. Recovery mounts the root again and starts it.
  EXPECT_EQ(testing::UnmountAllBelow(state_), 1);
  testing::FakeRuntime after_reboot;
  OpenEngine(after_reboot);
  auto recovered = engine_->Recover();
  ASSERT_TRUE(recovered) << recovered.error().message();
  ASSERT_TRUE(after_reboot.Get(ContainerId("web", v1)));
  EXPECT_EQ(Read(Rev(v1) / "rootfs/etc/version"), "1.0.0");

  // With one committed revision kept besides current and previous, v1 goes when v3 commits: its
  // mount first, then its folder.
  const std::string v2 = Install(Release("2.0.0"));
  const std::string v3 = Install(Release("3.0.0"));
  EXPECT_FALSE(stdfs::exists(Rev(v1)));
  EXPECT_EQ(MountCount(Rev(v1) / "rootfs"), 0);
  EXPECT_EQ(Read(state_ / "apps/web/current/rootfs/etc/version"), "3.0.0");
  EXPECT_EQ(Read(Rev(v2) / "rootfs/etc/version"), "2.0.0") << "previous stays mounted";
}

TEST_F(OverlayEngineTest, RecoveryUnmountsAStagingLeftoverBeforeRemovingIt) {
  const std::string v1 = Install(Release("1.0.0"));
  // A crash while a staging was mounted for its probe: a .partial with a live mount in it.
  const stdfs::path partial = Rev("2.0.0-000000000000.partial");
  stdfs::create_directories(partial);
  auto kind =
      BuildRevisionRootfs({{state_ / "layers" / base_.layer.diff_id.substr(7),
                            state_ / "layers" / (base_.layer.diff_id.substr(7) + ".whiteouts")}},
                          partial, false, RootfsMode::kOverlay);
  ASSERT_TRUE(kind) << kind.error().message();
  ASSERT_TRUE(MountRevisionRootfs(state_ / "layers", partial));
  ASSERT_EQ(MountCount(partial / "rootfs"), 1);
  OpenEngine(runtime_);
  auto recovered = engine_->Recover();
  ASSERT_TRUE(recovered) << recovered.error().message();
  EXPECT_FALSE(stdfs::exists(partial));
  EXPECT_EQ(MountCount(partial / "rootfs"), 0);
  EXPECT_EQ(Read(state_ / "layers" / base_.layer.diff_id.substr(7) / "bin/app"), "app");
  EXPECT_EQ(Read(Rev(v1) / "rootfs/etc/version"), "1.0.0");
}

TEST_F(OverlayEngineTest, ARevisionFolderWhoseLayersAreGoneIsStagedAgain) {
  Install(Release("1.0.0"));
  // What a crash between the rename of v2's folder and the record of its layers can leave once
  // garbage collection has run: the folder, its manifest, and no top layer.
  const auto v2 = Release("2.0.0");
  const std::string rev2 =
      RevisionId(v2.version.String(), Sha256Digest(manifest::SerializeManifest(v2)));
  const std::string top_hex = v2.layers[1].diff_id.substr(7);
  const stdfs::path top = state_ / "layers" / top_hex;
  stdfs::create_directories(top / "etc");
  std::ofstream(top / "etc/version") << "stale";
  stdfs::create_directories(Rev(rev2));
  const stdfs::path base = state_ / "layers" / base_.layer.diff_id.substr(7);
  auto kind =
      BuildRevisionRootfs({{base, base.string() + ".whiteouts"}, {top, top.string() + ".x"}},
                          Rev(rev2), false, RootfsMode::kOverlay);
  ASSERT_TRUE(kind) << kind.error().message();
  ASSERT_TRUE(fs::WriteFileAtomic(Rev(rev2) / "manifest.json", manifest::SerializeManifest(v2)));
  stdfs::remove_all(top);
  EXPECT_FALSE(RevisionRootfsHasItsLayers(state_ / "layers", Rev(rev2)));

  EXPECT_EQ(Install(v2), rev2);
  EXPECT_EQ(Read(state_ / "apps/web/current/rootfs/etc/version"), "2.0.0");
}

}  // namespace
}  // namespace ferry::engine
