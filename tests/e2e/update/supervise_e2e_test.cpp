// Life after the update (issue #18): an app whose process dies after its revision was committed is
// started again by ferryd, on real runc, and `ferry status` says what is true now.
#include <gtest/gtest.h>
#include <signal.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "device_lab.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class SuperviseE2e : public testing::DeviceLab {
 protected:
  // The host pid of the app container's first process, from runc.
  int AppPid() {
    const auto ids = Containers();
    if (ids.size() != 1) {
      return 0;
    }
    auto r = testing::Run({"runc", "--root", (dir_ / "runc").string(), "state", ids[0]});
    if (r.exit_code != 0) {
      return 0;
    }
    return Json::parse(r.out).value("pid", 0);
  }

  Json App() {
    Json s = Status();
    return s.is_object() && !s["apps"].empty() ? s["apps"][0] : Json();
  }
};

TEST_F(SuperviseE2e, AKilledAppIsRestartedAndCounted) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Page(), "version 1.0.0");
  EXPECT_EQ(App()["running"], true) << App().dump(2);
  EXPECT_EQ(App()["restarts"], 0);
  const int pid = AppPid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The first restart comes 1 s after the end.
  EXPECT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0" && AppPid() != pid; }, 10s))
      << Log();
  EXPECT_TRUE(testing::WaitFor([&] { return App()["restarts"] == 1; }, 5s)) << App().dump(2);
  const Json app = App();
  EXPECT_EQ(app["running"], true);
  ASSERT_TRUE(app["last_exit"].is_object()) << app.dump(2);
  EXPECT_EQ(app["last_exit"]["signal"], SIGKILL) << app.dump(2);
  EXPECT_EQ(app["current"]["state"], "committed");
  auto readable = Ferry({"status"});
  EXPECT_NE(readable.out.find("killed by signal 9"), std::string::npos) << readable.out;
  EXPECT_NE(Log().find("restarting it in 1 s"), std::string::npos) << Log();
}

TEST_F(SuperviseE2e, WithPolicyNeverTheAppStaysDownAndStatusSaysSo) {
  Release("1.0.0");
  StartFerryd({}, "[supervise]\nrestart = \"never\"\n");
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Page(), "version 1.0.0");
  const int pid = AppPid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(testing::WaitFor([&] { return App()["running"] == false; }, 5s)) << App().dump(2);
  // Once ferryd has decided to leave it down, nothing brings it back.
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Log().find("restart policy never leaves it down") != std::string::npos; }, 5s))
      << Log();
  EXPECT_EQ(Page(), "");
  const Json app = App();
  EXPECT_EQ(app["running"], false) << app.dump(2);
  EXPECT_EQ(app["restarts"], 0);
  EXPECT_EQ(app["restart_policy"], "never");
}

TEST_F(SuperviseE2e, AnAppThatAnswersForTwoSecondsThenExitsFailsATrialWithHealthyFor) {
  Release("1.0.0");
  Release("2.0.0", "serves-2s", false, Json{{"healthy_for_s", 4}});
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  auto r = Ferry({"install", Bundle("2.0.0")});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
  const auto why = Ferry({"why", "web"});
  EXPECT_NE(why.out.find("container exited with status 3"), std::string::npos) << why.out;
}

TEST_F(SuperviseE2e, ACrashLoopInProbationRollsBackAndMarksTheRevisionBad) {
  Release("1.0.0");
  Release("2.0.0", "serves-2s");  // passes its trial (2 answers in 0.5 s), then dies every 2 s
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  EXPECT_EQ(App()["current"]["probation"], true) << App().dump(2);
  EXPECT_NE(Ferry({"status"}).out.find("probation"), std::string::npos);
  // Exits at about 2, 5 and 9 s (backoff 1 s, 2 s): the third rolls back.
  EXPECT_TRUE(testing::WaitFor([&] { return CurrentVersion() == "1.0.0"; }, 30s)) << Log();
  EXPECT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 10s)) << Log();
  const Json history = Json::parse(Ferry({"--json", "history", "web"}).out);
  EXPECT_NE(history.dump().find("probation: crash loop: ended 3 times"), std::string::npos)
      << history.dump(2);
  // Marked bad: not installed again.
  EXPECT_NE(Ferry({"install", Bundle("2.0.0")}).exit_code, 0);
  EXPECT_EQ(CurrentVersion(), "1.0.0");
}

TEST_F(SuperviseE2e, AfterProbationACrashLoopIsOnlyRestarted) {
  Release("1.0.0");
  Release("2.0.0", "serves-2s", false, Json{{"probation_s", 1}});
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  EXPECT_TRUE(testing::WaitFor([&] { return App()["restarts"] >= 3; }, 30s)) << App().dump(2);
  EXPECT_EQ(CurrentVersion(), "2.0.0");
  EXPECT_EQ(App()["current"]["probation"], false);
  EXPECT_EQ(App()["current"]["state"], "committed");
  EXPECT_EQ(App()["last_restart_reason"], "exited");
}

TEST_F(SuperviseE2e, AnUnhealthyButRunningAppIsRestartedByLiveness) {
  Release("1.0.0", "sickens", false,
          Json{{"liveness_interval_s", 0.5}, {"liveness_failures", 2}, {"probation_s", 0}});
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  const int pid = AppPid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(testing::WaitFor([&] { return App()["healthy"] == true; }, 5s)) << App().dump(2);
  // Sick from 3 s on: two failed probes half a second apart restart it.
  EXPECT_TRUE(testing::WaitFor([&] { return App()["restarts"] >= 1; }, 15s)) << Log();
  const Json app = App();
  EXPECT_EQ(app["last_restart_reason"], "unhealthy") << app.dump(2);
  EXPECT_TRUE(testing::WaitFor([&] { return AppPid() > 0 && AppPid() != pid; }, 5s));
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_NE(Ferry({"status"}).out.find("(unhealthy)"), std::string::npos);
  EXPECT_NE(Log().find("is unhealthy"), std::string::npos) << Log();
}

// Sustained unhealthiness (the liveness probe) inside probation rolls back and marks the
// revision bad; after probation the same failure only restarts the app.
TEST_F(SuperviseE2e, AnAppTurningUnhealthyInProbationIsRolledBackAfterItOnlyRestarted) {
  const Json liveness{{"liveness_interval_s", 0.5}, {"liveness_failures", 2}};
  Release("1.0.0");
  Json in_probation = liveness;
  in_probation["probation_s"] = 60;
  Release("2.0.0", "sickens", false, in_probation);  // passes its trial, sick from 3 s on
  Json after_probation = liveness;
  after_probation["probation_s"] = 1;
  Release("3.0.0", "sickens", false, after_probation);
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  EXPECT_EQ(App()["current"]["probation"], true) << App().dump(2);
  EXPECT_TRUE(testing::WaitFor([&] { return CurrentVersion() == "1.0.0"; }, 20s)) << Log();
  EXPECT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 10s)) << Log();
  const Json history = Json::parse(Ferry({"--json", "history", "web"}).out);
  bool bad = false;
  for (const Json& r : history["revisions"]) {
    if (r.value("version", "") == "2.0.0") {
      bad = r.value("bad", false);
      EXPECT_NE(r.dump().find("probation: unhealthy: http check failed 2 times in a row"),
                std::string::npos)
          << r.dump(2);
    }
  }
  EXPECT_TRUE(bad) << history.dump(2);
  EXPECT_NE(Ferry({"install", Bundle("2.0.0")}).exit_code, 0);  // marked bad

  // Past its probation (1 s, over before the app sickens): restarted, never rolled back.
  ASSERT_EQ(Ferry({"install", Bundle("3.0.0")}).exit_code, 0) << Log();
  EXPECT_TRUE(testing::WaitFor([&] { return App()["restarts"] >= 1; }, 20s)) << Log();
  const Json app = App();
  EXPECT_EQ(app["last_restart_reason"], "unhealthy") << app.dump(2);
  EXPECT_EQ(app["current"]["version"], "3.0.0");
  EXPECT_EQ(app["current"]["state"], "committed");
  EXPECT_EQ(app["current"]["probation"], false);
}

// ferryd killed (SIGKILL) within probation: the next ferryd adopts the running app and goes on
// with the same window and the ends already counted, so a crash loop across the restart still
// rolls back at its third end.
TEST_F(SuperviseE2e, ACrashLoopAcrossAKillOfFerrydInProbationStillRollsBack) {
  Release("1.0.0");
  Release("2.0.0", "serves-2s", false, Json{{"probation_s", 120}});
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  const Json until = App()["current"]["probation_until"];
  ASSERT_TRUE(until.is_number()) << App().dump(2);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Log().find("ended 1 of 3 times within its probation") != std::string::npos; },
      15s))
      << Log();
  ferryd_.reset();  // SIGKILL
  const std::size_t before = Log().size();
  StartFerryd();
  EXPECT_EQ(App()["current"]["probation"], true) << App().dump(2);
  EXPECT_EQ(App()["current"]["probation_until"], until);
  EXPECT_TRUE(testing::WaitFor([&] { return CurrentVersion() == "1.0.0"; }, 40s)) << Log();
  EXPECT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 10s)) << Log();
  const std::string after = Log().substr(before);
  // Counting went on from where the killed ferryd left it.
  EXPECT_EQ(after.find("ended 1 of 3 times within its probation"), std::string::npos) << after;
  EXPECT_NE(after.find("crash loop: ended 3 times"), std::string::npos) << after;
  const Json history = Json::parse(Ferry({"--json", "history", "web"}).out);
  EXPECT_NE(history.dump().find("probation: crash loop: ended 3 times"), std::string::npos)
      << history.dump(2);
}

// A healthy app whose ferryd is killed within probation stays on probation until the window that
// was set at its commit ends (not restarted, not committed early), then is committed.
TEST_F(SuperviseE2e, AHealthyAppOutlivesAKillOfFerrydAndItsProbationEndsOnTime) {
  Release("1.0.0");
  Release("2.0.0", "good", false, Json{{"probation_s", 8}});
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0) << Log();
  const Json until = App()["current"]["probation_until"];
  ASSERT_TRUE(until.is_number()) << App().dump(2);
  const int pid = AppPid();
  ASSERT_GT(pid, 0);
  ferryd_.reset();  // SIGKILL
  StartFerryd();
  Json app = App();
  EXPECT_EQ(app["current"]["version"], "2.0.0");
  EXPECT_EQ(app["current"]["probation"], true) << app.dump(2);
  EXPECT_EQ(app["current"]["probation_until"], until);
  EXPECT_EQ(AppPid(), pid);  // adopted, not restarted
  EXPECT_TRUE(testing::WaitFor([&] { return App()["current"]["probation"] == false; }, 20s))
      << App().dump(2);
  EXPECT_GE(static_cast<long long>(std::time(nullptr)), until.get<long long>());
  app = App();
  EXPECT_EQ(app["current"]["version"], "2.0.0");
  EXPECT_EQ(app["current"]["state"], "committed");
  EXPECT_EQ(app["restarts"], 0);
  EXPECT_EQ(AppPid(), pid);
  EXPECT_EQ(Page(), "version 2.0.0");
}

TEST_F(SuperviseE2e, ATechnicianRetriesABadReleaseOnPurposeAndTheHistorySaysSo) {
  Release("1.0.0");
  Release("2.0.0", "500");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  EXPECT_NE(Ferry({"install", Bundle("2.0.0")}).out.find("rolled-back"), std::string::npos);
  auto refused = Ferry({"install", Bundle("2.0.0")});
  EXPECT_NE(refused.err.find("marked bad"), std::string::npos) << refused.out << refused.err;
  // ferry install --retry-bad: tried again (and, still broken, rolled back again).
  auto again = Ferry({"install", "--retry-bad", Bundle("2.0.0")});
  EXPECT_NE(again.out.find("rolled-back"), std::string::npos) << again.out << again.err;
  // ferry retry: lifts the mark; the next plain install tries it.
  auto retry = Ferry({"retry", "web", "2.0.0"});
  EXPECT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_NE(retry.out.find("no longer marked bad"), std::string::npos) << retry.out;
  auto third = Ferry({"install", Bundle("2.0.0")});
  EXPECT_NE(third.out.find("rolled-back"), std::string::npos) << third.out << third.err;
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  const auto why = Ferry({"why", "web"}).out;
  EXPECT_NE(why.find("retried: technician (ferry retry) retried it after:"), std::string::npos)
      << why;
  EXPECT_NE(Ferry({"history", "web"}).out.find("[technician (ferry retry)"), std::string::npos);
  EXPECT_NE(Ferry({"retry", "web", "9.9.9"}).exit_code, 0);
}

}  // namespace
}  // namespace ferry
