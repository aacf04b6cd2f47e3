// The whole update path as a device sees it: releases made by ferry-publish, offline bundles,
// ferryd running them with real runc, and ferry at the console. Needs root and runc.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "device_lab.hpp"
#include "support/mounts.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

class UpdateE2e : public testing::DeviceLab {};

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

// ferryd killed at each named point of the switch and the trial, then started again: the device
// ends on the previous good revision, the interrupted one is marked bad, one container runs.
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
    // A power cut ends every process and empties the runtime's tmpfs state.
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
  StartFerryd();
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s))
      << "page: " << Page() << "\n"
      << Log();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
  ASSERT_EQ(history["revisions"].size(), 2u);
  EXPECT_TRUE(history["revisions"][1]["bad"].get<bool>()) << history.dump(2);
  EXPECT_EQ(Containers().size(), 1u);
  EXPECT_EQ(stdfs::read_symlink(dir_ / "state/apps/web/current").string().substr(0, 16),
            "revisions/1.0.0-");
  // Converged: a further restart changes nothing.
  ferryd_.reset();
  StartFerryd();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
}

INSTANTIATE_TEST_SUITE_P(Points, CrashE2e,
                         ::testing::Combine(::testing::Values("engine.switch.after-journal",
                                                              "engine.switch.after-stop-old",
                                                              "engine.switch.after-start-new",
                                                              "engine.switch.after-link",
                                                              "engine.trial.started",
                                                              "engine.trial.before-commit"),
                                            ::testing::Bool()),
                         [](const auto& param_info) {
                           std::string name = std::get<0>(param_info.param);
                           for (char& c : name) {
                             if (c == '.' || c == '-') {
                               c = '_';
                             }
                           }
                           return name +
                                  (std::get<1>(param_info.param) ? "_PowerCut" : "_ProcessCrash");
                         });

}  // namespace
}  // namespace ferry
