// The whole update path as a device sees it: releases made by ferry-publish, offline bundles,
// ferryd running them with real runc, and ferry at the console. Needs root and runc.
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "device_lab.hpp"
#include "ferry/core/fs.hpp"
#include "support/mounts.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

class UpdateE2e : public testing::DeviceLab {
 protected:
  // A power cut ends every process and empties the runtime's tmpfs state.
  void PowerCut() {
    for (const auto& id : Containers()) {
      testing::Run({"runc", "--root", (dir_ / "runc").string(), "kill", id, "KILL"});
    }
    std::this_thread::sleep_for(200ms);
    for (const auto& id : Containers()) {
      testing::Run({"runc", "--root", (dir_ / "runc").string(), "delete", "--force", id});
    }
    stdfs::remove_all(dir_ / "runc");
    // And no mount survives it: ferryd must mount the overlay root filesystems again.
    testing::UnmountAllBelow(dir_.path());
  }
};

TEST_F(UpdateE2e, HealthyUpdateIsCommittedAndServesTheNewVersion) {
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  auto r1 = Ferry({"install", Bundle("1.0.0")});
  ASSERT_EQ(r1.exit_code, 0) << r1.out << r1.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  auto r2 = Ferry({"install", Bundle("2.0.0")});
  ASSERT_EQ(r2.exit_code, 0) << r2.out << r2.err << Log();
  EXPECT_NE(r2.out.find("committed: web 2.0.0"), std::string::npos) << r2.out;
  EXPECT_EQ(Page(), "version 2.0.0");
  EXPECT_EQ(CurrentVersion(), "2.0.0");
  // The switch (old stopped → new started) is timed: that is the app's downtime.
  auto h = Ferry({"--json", "history", "web"});
  ASSERT_EQ(h.exit_code, 0);
  Json history = Json::parse(h.out);
  bool switch_timed = false;
  for (const auto& step : history["revisions"][1]["steps"]) {
    switch_timed |= step["step"] == "switching" && step["duration_ms"].is_number();
  }
  EXPECT_TRUE(switch_timed) << history.dump(2);
  EXPECT_EQ(Containers().size(), 1u);
}

TEST_F(UpdateE2e, EveryKindOfBadVersionIsRolledBackAndNeverRetried) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  int minor = 1;
  const std::map<std::string, std::string> expected_reason = {
      {"exits", "container exited with status 1"},
      {"500", "HTTP status 500"},
      {"hangs", "did not pass within"},
      {"crashes", "container exited with status 3"}};
  for (const auto& [kind, reason] : expected_reason) {
    SCOPED_TRACE(kind);
    const std::string v = "1." + std::to_string(minor++) + ".0";
    Release(v, kind);
    const auto start = std::chrono::steady_clock::now();
    auto r = Ferry({"install", Bundle(v)});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
    EXPECT_NE(r.out.find("rolled-back"), std::string::npos) << r.out;
    EXPECT_LT(took, 5s + 8s) << "deadline plus a few seconds";
    EXPECT_EQ(Page(), "version 1.0.0");
    EXPECT_EQ(CurrentVersion(), "1.0.0");
    auto why = Ferry({"why", "web"});
    EXPECT_NE(why.out.find(v), std::string::npos) << why.out;
    EXPECT_NE(why.out.find("health check failed"), std::string::npos) << why.out;
    EXPECT_NE(why.out.find(reason), std::string::npos) << why.out;
    EXPECT_NE(why.out.find("marked bad"), std::string::npos) << why.out;
    auto again = Ferry({"install", Bundle(v)});
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.err.find("marked bad"), std::string::npos) << again.err;
  }
  EXPECT_EQ(Containers().size(), 1u);
}

TEST_F(UpdateE2e, RevertByHandAndInstallWithoutAnyServer) {
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0);
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0);
  auto r = Ferry({"revert", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Log();
  EXPECT_EQ(r.out.find("committed: web 1.0.0 (revision "), 0u) << r.out;
  EXPECT_EQ(Page(), "version 1.0.0");
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Ferry({"revert", "web", "--to", "no-such-revision"}).exit_code, 1);
}

TEST_F(UpdateE2e, BundleSignedWithOtherKeysIsRefused) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0);
  // A second repository with its own keys: its releases mean nothing to this device.
  testing::TempDir other;
  ASSERT_EQ(
      Publish({"init", "--repo", (other / "repo").string(), "--keys", (other / "keys").string()})
          .exit_code,
      0);
  const auto image = dir_ / "image-1.0.0";
  ASSERT_EQ(Publish({"release", "--repo", (other / "repo").string(), "--keys",
                     (other / "keys").string(), "--app", "web", "--version", "9.0.0", "--image",
                     image.string(), "--app-config", (dir_ / "app-1.0.0.json").string()})
                .exit_code,
            0);
  ASSERT_EQ(Publish({"bundle", "--repo", (other / "repo").string(), "--app", "web", "--version",
                     "9.0.0", "--out", (other / "evil.bundle").string()})
                .exit_code,
            0);
  auto r = Ferry({"install", (other / "evil.bundle").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("verifying the bundle's metadata"), std::string::npos) << r.err;
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
}

// A power cut in the middle of `runc create` leaves runc's temp pid file in the bundle (where
// earlier versions of Ferry asked runc to write it): the app must start at the next boot anyway.
TEST_F(UpdateE2e, AStalePidFileInTheBundleDoesNotKeepTheAppDownAfterAPowerCut) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  PowerCut();
  const auto revision = stdfs::read_symlink(dir_ / "state/apps/web/current");
  const auto bundle = dir_ / "state/apps/web" / revision;
  ASSERT_TRUE(fs::WriteFileAtomic(bundle / ".container.pid", "4242"));
  StartFerryd();
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s))
      << "page: " << Page() << "\n"
      << Log();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_FALSE(stdfs::exists(bundle / ".container.pid"));
  ExpectOracleHolds();
}

// `systemctl restart ferryd` (SIGTERM) while a release is being staged: ferryd stops without
// switching, the running version keeps answering, and the release is not held against itself.
TEST_F(UpdateE2e, StopDuringStagingKeepsTheRunningVersionAndTheReleaseInstallsNextTime) {
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  StartFerryd({{"FERRY_CRASHPOINT", "engine.stage.before-rename@pause"}});
  auto install = std::async(std::launch::async, [&] {
    return Ferry({"install", Bundle("2.0.0")});
  });
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Log().find("crash point engine.stage.before-rename reached: pausing") !=
               std::string::npos;
      },
      30s))
      << Log();
  ferryd_->Signal(SIGTERM);
  EXPECT_EQ(ferryd_->Wait(30s), 0) << Log();
  EXPECT_NE(install.get().exit_code, 0);
  EXPECT_EQ(Page(), "version 1.0.0") << "the running version was never stopped";

  StartFerryd();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
  ASSERT_EQ(history["revisions"].size(), 2u) << history.dump(2);
  EXPECT_FALSE(history["revisions"][1]["bad"].get<bool>()) << history.dump(2);
  EXPECT_EQ(history["revisions"][1]["state"], "interrupted") << history.dump(2);
  for (const auto& step : history["revisions"][1]["steps"]) {
    EXPECT_NE(step["step"], "switching") << "never switched: " << history.dump(2);
  }
  ExpectOracleHolds();
  auto again = Ferry({"install", Bundle("2.0.0")});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
  EXPECT_EQ(CurrentVersion(), "2.0.0");
}

// The current version cannot be started any more (here its bundle is damaged): after three boots
// that fail to start it, the device falls back to the previous version, and says so.
TEST_F(UpdateE2e, AVersionThatCannotStartAtThreeBootsFallsBackToThePreviousOne) {
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  PowerCut();
  const auto current =
      dir_ / "state/apps/web" / stdfs::read_symlink(dir_ / "state/apps/web/current");
  ASSERT_TRUE(fs::WriteFileAtomic(current / "manifest.json", "damaged"));
  auto failed_starts = [&] {
    const std::string log = Log();
    std::size_t n = 0;
    // One "web: could not start" line a boot; the failed event's line says "at boot" too.
    for (auto at = log.find("web: could not start"); at != std::string::npos;
         at = log.find("web: could not start", at + 1)) {
      ++n;
    }
    return n;
  };
  for (std::size_t boot = 1; boot < 3; ++boot) {
    StartFerryd();
    ASSERT_TRUE(testing::WaitFor([&] { return failed_starts() >= boot; }, 20s)) << Log();
    EXPECT_EQ(CurrentVersion(), "2.0.0");
    ferryd_.reset();
  }
  StartFerryd();
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s))
      << "page: " << Page() << "\n"
      << Log();
  // 1.0.0 answers as soon as it has started, before the fallback is recorded: read what ferryd
  // says once recovery is done (the oracle waits for it).
  ExpectOracleHolds();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
  ASSERT_EQ(history["revisions"].size(), 2u);
  EXPECT_TRUE(history["revisions"][1]["bad"].get<bool>()) << history.dump(2);
  auto why = Ferry({"why", "web"});
  EXPECT_NE(why.out.find("could not start at 3 boots"), std::string::npos) << why.out;
  // Converged: a further restart changes nothing.
  ferryd_.reset();
  StartFerryd();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
  ExpectOracleHolds();
}

// ferryd killed at each named point of the switch and the trial, then started again: the device
// ends on the previous good revision, the interrupted one is rolled back but not marked bad (it
// may be installed again), and the oracle finds every invariant holding (one container runs).
class CrashE2e : public UpdateE2e,
                 public ::testing::WithParamInterface<std::tuple<const char*, bool>> {};

TEST_P(CrashE2e, RestartRollsBackAnInterruptedUpdate) {
  const auto [point, power_cut] = GetParam();
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  StartFerryd({{"FERRY_CRASHPOINT", point}});
  auto r = Ferry({"install", Bundle("2.0.0")});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(ferryd_->Wait(30s), 137) << "ferryd should have died at " << point << "\n" << Log();
  if (power_cut) {
    PowerCut();
  }
  StartFerryd();
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s))
      << "page: " << Page() << "\n"
      << Log();
  // The page answers as soon as recovery has started 1.0.0 again; the oracle waits until
  // recovery is done, and what ferryd says is read after it.
  ExpectOracleHolds();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
  ASSERT_EQ(history["revisions"].size(), 2u);
  EXPECT_FALSE(history["revisions"][1]["bad"].get<bool>()) << history.dump(2);
  EXPECT_EQ(history["revisions"][1]["state"], "interrupted") << history.dump(2);
  // Converged: a further restart changes nothing.
  ferryd_.reset();
  StartFerryd();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
  ExpectOracleHolds();
}

INSTANTIATE_TEST_SUITE_P(
    Points, CrashE2e,
    ::testing::Combine(::testing::Values("engine.switch.after-journal",
                                         "engine.switch.after-create-new",
                                         "engine.switch.after-stop-old",
                                         "engine.switch.after-start-new",
                                         "engine.switch.after-link", "engine.switch.after-standby",
                                         "engine.trial.started", "engine.trial.before-commit"),
                       ::testing::Bool()),
    [](const auto& param_info) {
      std::string name = std::get<0>(param_info.param);
      for (char& c : name) {
        if (c == '.' || c == '-') {
          c = '_';
        }
      }
      return name + (std::get<1>(param_info.param) ? "_PowerCut" : "_ProcessCrash");
    });

// ferryd killed at each step of garbage collection (after a commit): the removal is finished
// at the next start (the oracle finds nothing left over), and a later release that needs a
// removed layer again unpacks it anew.
class GcCrashE2e : public UpdateE2e, public ::testing::WithParamInterface<const char*> {};

TEST_P(GcCrashE2e, RestartFinishesTheRemovalAndALaterReleaseSharingTheLayerRuns) {
  Release("1.0.0");
  Release("2.0.0");
  Release("3.0.0");
  // 4.0.0 is 1.0.0's image again: it needs the very layer that collecting 1.0.0 removes.
  ASSERT_EQ(Publish({"release", "--repo", Repo().string(), "--keys", Keys(), "--app", "web",
                     "--version", "4.0.0", "--image", (dir_ / "image-1.0.0").string(),
                     "--app-config", (dir_ / "app-1.0.0.json").string(), "--quiet"})
                .exit_code,
            0);
  ASSERT_EQ(Publish({"bundle", "--repo", Repo().string(), "--app", "web", "--version", "4.0.0",
                     "--out", Bundle("4.0.0")})
                .exit_code,
            0);
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  StartFerryd({{"FERRY_CRASHPOINT", GetParam()}});
  EXPECT_NE(Ferry({"install", Bundle("3.0.0")}).exit_code, 0);
  EXPECT_EQ(ferryd_->Wait(30s), 137) << "ferryd should have died at " << GetParam() << "\n"
                                     << Log();
  StartFerryd();
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 3.0.0"; }, 20s))
      << "page: " << Page() << "\n"
      << Log();
  EXPECT_EQ(CurrentVersion(), "3.0.0");
  // Recovery runs on ferryd's worker, after the still running 3.0.0 has been adopted; the oracle
  // waits for it.
  ExpectOracleHolds();
  for (const auto& entry : stdfs::directory_iterator(dir_ / "state/apps/web/revisions")) {
    EXPECT_FALSE(entry.path().filename().string().starts_with("1.0.0-"))
        << "1.0.0 is collected: " << entry.path();
  }
  auto r = Ferry({"install", Bundle("4.0.0")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Log();
  EXPECT_EQ(CurrentVersion(), "4.0.0");
  // 4.0.0 is 1.0.0's image: its page says so, and its layer (unpacked anew) is 1.0.0's.
  EXPECT_EQ(Page(), "version 1.0.0");
  ExpectOracleHolds("version 1.0.0");
}

INSTANTIATE_TEST_SUITE_P(Points, GcCrashE2e,
                         ::testing::Values("engine.gc.revision.after-rename",
                                           "engine.gc.revision.after-forget",
                                           "engine.gc.layer.after-rename",
                                           "engine.gc.layer.after-forget"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == '.' || c == '-') {
                               c = '_';
                             }
                           }
                           return name;
                         });

}  // namespace
}  // namespace ferry
