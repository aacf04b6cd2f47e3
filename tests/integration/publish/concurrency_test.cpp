// Several ferry-publish runs on one repository: a release holds the repository lock only for its
// metadata step, so other releases, bundles, verify and gc work while it encodes, and nothing is
// lost or removed under it. Releases are held at their pause points (pause_point.hpp) so that each
// test knows where a release stands.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>

#include "ferry/trust/metadata.hpp"
#include "publish_fixture.hpp"

namespace ferry::publish::testing {
namespace {

namespace stdfs = std::filesystem;
using ferry::testing::Child;
using ferry::testing::WaitFor;
using namespace std::chrono_literals;

// A `ferry-publish release` running in the background, held at `point` until Resume().
class HeldRelease {
 public:
  HeldRelease(const stdfs::path& dir, const std::vector<std::string>& args,
              const std::string& point)
      : fifo_(dir / "pause.fifo"), log_(dir / "release.log") {
    stdfs::create_directories(dir);
    EXPECT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);
    std::vector<std::string> argv{ferry::testing::BuiltProgram("ferry-publish").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    child_ = std::make_unique<Child>(
        argv,
        std::map<std::string, std::string>{{"FERRY_PUBLISH_PAUSE", point + ":" + fifo_.string()}},
        log_);
    // The FIFO opens for writing only once the release has opened it to wait at the point.
    const bool held = WaitFor(
        [&] {
          fd_ = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
          return fd_ >= 0 || !child_->running();
        },
        60s);
    EXPECT_TRUE(held && fd_ >= 0) << "the release did not reach " << point << ": " << Log();
  }
  ~HeldRelease() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  // Lets the release go on; Wait() then returns its exit status.
  void Resume() {
    ::close(fd_);
    fd_ = -1;
  }
  int Wait() { return child_->Wait(60s); }
  void Kill() {
    child_->Signal(SIGKILL);
    child_->Wait(10s);
  }
  std::string Log() const { return ReadFile(log_); }

 private:
  stdfs::path fifo_, log_;
  std::unique_ptr<Child> child_;
  int fd_ = -1;
};

class ConcurrencyTest : public PublishTest {
 protected:
  std::vector<std::string> ReleaseArgs(const std::string& app, const std::string& version,
                                       int variant) {
    const auto rootfs = tmp_ / ("rootfs-" + app + "-" + std::to_string(variant));
    MakeRootfs(rootfs, variant);
    return {"release",
            "--repo",
            repo().string(),
            "--keys",
            keys().string(),
            "--app",
            app,
            "--version",
            version,
            "--image",
            rootfs.string(),
            "--app-config",
            WriteAppConfig(tmp_.path()).string()};
  }

  std::unique_ptr<HeldRelease> Hold(const std::string& name, const std::vector<std::string>& args,
                                    const std::string& point) {
    return std::make_unique<HeldRelease>(tmp_ / name, args, point);
  }

  // The target names of the signed targets the timestamp leads to.
  std::set<std::string> SignedTargets() {
    const auto meta = repo() / "metadata";
    auto ts = trust::ParseMetadata(ReadFile(meta / "timestamp.json"), "timestamp");
    EXPECT_TRUE(ts.has_value());
    auto snap = trust::ParseMetadata(
        ReadFile(meta / (std::to_string(ts->meta.at("snapshot.json").version) + ".snapshot.json")),
        "snapshot");
    EXPECT_TRUE(snap.has_value());
    auto targets = trust::ParseMetadata(
        ReadFile(meta / (std::to_string(snap->meta.at("targets.json").version) + ".targets.json")),
        "targets");
    EXPECT_TRUE(targets.has_value());
    std::set<std::string> names;
    for (const auto& [name, target] : targets->targets) {
      names.insert(name);
    }
    return names;
  }

  std::size_t BlobCount() {
    return static_cast<std::size_t>(std::distance(
        stdfs::directory_iterator(repo() / "blobs" / "sha256"), stdfs::directory_iterator()));
  }

  ferry::testing::RunResult Verify() { return Publish({"verify", "--repo", repo().string()}); }
};

TEST_F(ConcurrencyTest, AReleaseOfAnotherAppLandsWhileOneEncodesAndNeitherIsLost) {
  Release("1.0.0", 1);
  auto web = Hold("web", ReleaseArgs("web", "2.0.0", 2), "release.before-delta");

  auto api = Publish(ReleaseArgs("api", "1.0.0", 3));
  ASSERT_EQ(api.exit_code, 0) << api.err;

  web->Resume();
  ASSERT_EQ(web->Wait(), 0) << web->Log();
  EXPECT_NE(web->Log().find("released web/2.0.0.json: 1 layer(s), 1 delta(s)"), std::string::npos)
      << web->Log();
  EXPECT_EQ(SignedTargets(),
            (std::set<std::string>{"api/1.0.0.json", "web/1.0.0.json", "web/2.0.0.json"}));
  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(ConcurrencyTest, TwoReleasesThatReachTheirMetadataAtOnceBothLand) {
  auto web = Hold("web", ReleaseArgs("web", "1.0.0", 1), "release.before-metadata");
  auto api = Hold("api", ReleaseArgs("api", "1.0.0", 2), "release.before-metadata");
  // Both have stored their blobs and hold no lock; let them race for it.
  web->Resume();
  api->Resume();
  EXPECT_EQ(web->Wait(), 0) << web->Log();
  EXPECT_EQ(api->Wait(), 0) << api->Log();
  EXPECT_EQ(SignedTargets(), (std::set<std::string>{"api/1.0.0.json", "web/1.0.0.json"}));
  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(ConcurrencyTest, TheSameVersionPublishedMeanwhileIsRefusedAtTheMetadataStep) {
  auto first = Hold("first", ReleaseArgs("web", "1.0.0", 1), "release.before-metadata");
  auto second = Publish(ReleaseArgs("web", "1.0.0", 2));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  first->Resume();
  EXPECT_EQ(first->Wait(), 1);
  EXPECT_NE(first->Log().find("web 1.0.0 is already published"), std::string::npos) << first->Log();
  const auto m = LoadManifest(repo(), "web", "1.0.0");
  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(m.layers.size(), 1u);
}

TEST_F(ConcurrencyTest, BundleAndVerifyWorkWhileAReleaseEncodes) {
  Release("1.0.0", 1);
  auto web = Hold("web", ReleaseArgs("web", "2.0.0", 2), "release.before-delta");

  const auto bundle = tmp_ / "b.tar";
  auto b = Publish({"bundle", "--repo", repo().string(), "--app", "web", "--version", "1.0.0",
                    "--out", bundle.string()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto members = TarMembers(bundle);
  ASSERT_EQ(members.size(), 7u);
  EXPECT_EQ(members[2], "metadata/timestamp.json");
  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;

  web->Resume();
  ASSERT_EQ(web->Wait(), 0) << web->Log();
  v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(ConcurrencyTest, GcDuringAnEncodeKeepsTheBlobsOfTheRelease) {
  Release("1.0.0", 1);
  const auto orphan = repo() / "blobs" / "sha256" / std::string(64, 'a');
  WriteFile(orphan, "left over");
  auto web = Hold("web", ReleaseArgs("web", "2.0.0", 2), "release.before-delta");

  // The release has stored its layer blob, which no signed manifest lists yet.
  auto gc = Publish({"gc", "--repo", repo().string()});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_NE(gc.out.find("removed 1 unused blob(s)"), std::string::npos) << gc.out;
  EXPECT_NE(gc.out.find("kept 1 file(s) of releases in progress"), std::string::npos) << gc.out;
  EXPECT_FALSE(stdfs::exists(orphan));

  web->Resume();
  ASSERT_EQ(web->Wait(), 0) << web->Log();
  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
  // Finished, the release no longer holds anything back.
  auto again = Publish({"gc", "--repo", repo().string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("removed 0 unused blob(s)"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("kept"), std::string::npos) << again.out;
}

TEST_F(ConcurrencyTest, ACrashedReleaseLeavesOrphansThatGcRemoves) {
  Release("1.0.0", 1);
  const auto before = BlobCount();
  auto web = Hold("web", ReleaseArgs("web", "2.0.0", 2), "release.before-metadata");
  EXPECT_EQ(BlobCount(), before + 2) << "its layer blob and its delta";
  web->Kill();

  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(SignedTargets(), std::set<std::string>{"web/1.0.0.json"});
  auto gc = Publish({"gc", "--repo", repo().string()});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_NE(gc.out.find("removed 2 unused blob(s)"), std::string::npos) << gc.out;
  EXPECT_EQ(BlobCount(), before);
  EXPECT_TRUE(stdfs::is_empty(repo() / ".ferry-publish.pending"));

  Release("2.0.0", 2);
  v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(ConcurrencyTest, AWriterWaitsForTheLockAndGoesOnWhenItIsFreed) {
  const auto lock = repo() / ".ferry-publish.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  const auto log = tmp_ / "timestamp.log";
  Child timestamp({ferry::testing::BuiltProgram("ferry-publish").string(), "timestamp", "--repo",
                   repo().string(), "--keys", keys().string()},
                  {}, log);
  EXPECT_TRUE(
      WaitFor([&] { return ReadFile(log).find("waiting for the lock") != std::string::npos; }, 30s))
      << ReadFile(log);
  EXPECT_TRUE(timestamp.running());
  ::close(fd);
  EXPECT_EQ(timestamp.Wait(30s), 0) << ReadFile(log);
}

}  // namespace
}  // namespace ferry::publish::testing
