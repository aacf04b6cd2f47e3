// Disk full during staging (TESTING.md §2): the state directory is a small tmpfs, v1 runs, and v2
// does not fit. The install must fail cleanly with a reason that says the disk is full, leave v1
// running and current, leave no staging leftovers, give back the space it took, and leave a
// database that recovers and takes a smaller v3.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "release_builder.hpp"
#include "support/advancing_sleeper.hpp"
#include "support/fake_runtime.hpp"
#include "support/mounts.hpp"
#include "support/prerequisite.hpp"
#include "support/temp_dir.hpp"

namespace ferry::engine {
namespace {

using namespace std::chrono_literals;
namespace stdfs = std::filesystem;

std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    const std::uint64_t v = gen();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

struct Free {
  std::uint64_t bytes = 0;
  std::uint64_t inodes = 0;
};

// Every path below `root` whose name marks a staging leftover.
std::vector<std::string> Leftovers(const stdfs::path& root) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(root, ec);
       it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.ends_with(".partial") || name.ends_with(".tmp") || name.starts_with(".tmp")) {
      found.push_back(it->path().lexically_relative(root).string());
    }
  }
  return found;
}

class DiskFullTest : public ::testing::Test {
 protected:
  // Mounts a fresh tmpfs with `options` as the state directory and opens the engine on it.
  void MountState(const std::string& options) {
    state_ = mount_root_ / "state";
    stdfs::create_directories(state_);
    if (::mount("tmpfs", state_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      const int err = errno;
      if (err == EPERM) {
        FERRY_SKIP_UNLESS_PREPARED(
            "mounting a tmpfs needs root (CAP_SYS_ADMIN): " << std::strerror(err));
      }
      FAIL() << "mount tmpfs " << options << ": " << std::strerror(err);
    }
    mounted_ = true;
    OpenEngine();
  }

  void OpenEngine() {
    engine_.reset();
    reporter_.reset();
    store_.reset();
    auto s = store::OpenStateStore(Layout(state_).database(), clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    EngineOptions options;
    options.stop_grace = 1s;
    options.rootfs = rootfs_mode_;
    engine_ = std::make_unique<Engine>(Layout(state_), *store_, *reporter_, runtime_, clock_,
                                       sleeper_, options);
  }

  void TearDown() override {
    engine_.reset();
    store_.reset();
    if (mounted_) {
      testing::UnmountAllBelow(state_);  // revisions' overlay root filesystems
    }
    if (mounted_ && ::umount2(state_.c_str(), 0) != 0) {
      // Something still holds it (a failed assertion left a file open): detach it anyway so the
      // next test and the temp directory's removal are not affected.
      ADD_FAILURE() << "umount " << state_ << ": " << std::strerror(errno);
      (void)::umount2(state_.c_str(), MNT_DETACH);
    }
  }

  Free FreeSpace() {
    struct statvfs sv {};
    EXPECT_EQ(::statvfs(state_.c_str(), &sv), 0) << std::strerror(errno);
    return {static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize,
            static_cast<std::uint64_t>(sv.f_favail)};
  }

  Result<InstallResult> Install(const manifest::Manifest& m) {
    DirBlobProvider blobs(builder_.blob_dir());
    return engine_->Install(m, manifest::SerializeManifest(m), blobs);
  }

  std::string Revision(const manifest::Manifest& m) {
    return RevisionId(m.version.String(), Sha256Digest(manifest::SerializeManifest(m)));
  }

  manifest::Manifest Release(const std::string& version, const testing::LayerFiles& top,
                             bool read_only = true) {
    auto m = builder_.Release("web", version, {base_, builder_.Layer(top)});
    m.config.read_only_rootfs = read_only;
    return m;
  }

  // Installs v1, fails v2 on a full disk, and checks everything the failure must leave as it was.
  void ExpectCleanAbort(const manifest::Manifest& v2) {
    const auto v1 = Release("1.0.0", {{{"etc/version", "1"}}, {}});
    auto r1 = Install(v1);
    ASSERT_TRUE(r1) << r1.error().message();
    ASSERT_EQ(r1->outcome, Outcome::kCommitted) << r1->reason;
    const std::string rev1 = Revision(v1);
    const Free before = FreeSpace();

    auto r2 = Install(v2);
    ASSERT_TRUE(r2) << "a full disk is a failed install, not an engine error: "
                    << r2.error().message();
    EXPECT_EQ(r2->outcome, Outcome::kFailed);
    EXPECT_NE(r2->reason.find("No space left on device"), std::string::npos) << r2->reason;
    EXPECT_EQ(store_->GetRevision(Revision(v2))->state, store::RevisionState::kFailed);
    EXPECT_FALSE(store_->GetRevision(Revision(v2))->bad)
        << "a full disk is no fault of the release";

    // v1 untouched.
    EXPECT_EQ(store_->GetApp("web")->current_revision, rev1);
    EXPECT_EQ(stdfs::read_symlink(state_ / "apps/web/current"), "revisions/" + rev1);
    auto running = runtime_.Get(ContainerId("web", rev1));
    ASSERT_TRUE(running);
    EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
    EXPECT_EQ(*fs::ReadFile(state_ / "apps/web/current/rootfs/etc/version"), "1");
    EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v2))), std::nullopt);

    // Nothing left behind, and the space given back.
    EXPECT_EQ(Leftovers(state_), std::vector<std::string>{});
    EXPECT_FALSE(stdfs::exists(state_ / "apps/web/revisions" / Revision(v2)));
    const Free after = FreeSpace();
    EXPECT_GE(after.bytes + (1u << 20), before.bytes)
        << "free bytes before " << before.bytes << ", after " << after.bytes;
    EXPECT_GE(after.inodes + 2, before.inodes)
        << "free inodes before " << before.inodes << ", after " << after.inodes;
    auto layers = store_->ListLayers();
    ASSERT_TRUE(layers);
    EXPECT_EQ(layers->size(), 2u) << "only v1's layers are kept";

    // The database survives: recovery runs, and a release that fits installs.
    OpenEngine();
    auto recovered = engine_->Recover();
    ASSERT_TRUE(recovered) << recovered.error().message();
    EXPECT_EQ(store_->GetApp("web")->current_revision, rev1);
    const auto v3 = Release("3.0.0", {{{"etc/version", "3"}}, {}});
    auto r3 = Install(v3);
    ASSERT_TRUE(r3) << r3.error().message();
    EXPECT_EQ(r3->outcome, Outcome::kCommitted) << r3->reason;
    EXPECT_EQ(*fs::ReadFile(state_ / "apps/web/current/rootfs/etc/version"), "3");
    EXPECT_EQ(Leftovers(state_), std::vector<std::string>{});
  }

  testing::TempDir mount_root_;
  testing::TempDir work_;
  stdfs::path state_;
  bool mounted_ = false;
  RootfsMode rootfs_mode_ = RootfsMode::kAuto;
  testing::ReleaseBuilder builder_{work_.path()};
  testing::BuiltLayer base_ = builder_.Layer({{{"bin/app", "app binary"}, {"etc/conf", "x"}}, {}});
  ManualClock clock_;
  testing::AdvancingSleeper sleeper_{clock_};
  testing::FakeRuntime runtime_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(DiskFullTest, LayerLargerThanTheDiskAbortsCleanly) {
  MountState("size=24m,mode=0700");
  if (IsSkipped() || HasFatalFailure()) {
    return;
  }
  // Incompressible, so the blob (outside the tmpfs) is as large as what it unpacks to.
  ExpectCleanAbort(Release("2.0.0", {{{"data/big", RandomBytes(40u << 20, 2)}}, {}}));
}

TEST_F(DiskFullTest, LayerWithMoreFilesThanInodesAbortsCleanly) {
  MountState("size=32m,nr_inodes=128,mode=0700");
  if (IsSkipped() || HasFatalFailure()) {
    return;
  }
  testing::LayerFiles many;
  for (int i = 0; i < 400; ++i) {
    many.files["data/f" + std::to_string(i)] = std::to_string(i);
  }
  ExpectCleanAbort(Release("2.0.0", many));
}

TEST_F(DiskFullTest, RootfsThatDoesNotFitAfterItsLayerAbortsCleanly) {
  // The layer unpacks, but a writable root copies it and the copy does not fit: the layer that
  // was unpacked for nothing must go too. (An overlay would need no copy: hardlink farms only.)
  rootfs_mode_ = RootfsMode::kHardlink;
  MountState("size=24m,mode=0700");
  if (IsSkipped() || HasFatalFailure()) {
    return;
  }
  ExpectCleanAbort(Release("2.0.0", {{{"data/big", RandomBytes(14u << 20, 3)}}, {}},
                           /*read_only=*/false));
}

}  // namespace
}  // namespace ferry::engine
