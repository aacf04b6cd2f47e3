#include "ferry/health/health_checker.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <thread>

#include "support/fake_runtime.hpp"

namespace ferry::health {
namespace {

using namespace std::chrono_literals;
using ferry::testing::FakeRuntime;
using manifest::CheckKind;
using manifest::HealthCheck;

// Sleeping on a ManualClock is advancing it: whole trials run at once, timers fire on the way.
class AdvancingSleeper final : public Sleeper {
 public:
  explicit AdvancingSleeper(ManualClock& clock) : clock_(clock) {}
  bool SleepUntil(Clock::TimePoint until) override {
    if (cancel_after_ >= 0 && sleeps_++ >= cancel_after_) {
      return false;
    }
    if (until > clock_.Now()) {
      clock_.Advance(until - clock_.Now());
    }
    return true;
  }
  void CancelAfter(int sleeps) { cancel_after_ = sleeps; }

 private:
  ManualClock& clock_;
  int sleeps_ = 0;
  int cancel_after_ = -1;
};

// Answers from a script (the last answer repeats) and takes `cost` of clock time per probe.
class ScriptedProbe final : public Probe {
 public:
  ScriptedProbe(ManualClock& clock, std::deque<ProbeResult> script, Clock::Duration cost = 0s)
      : clock_(clock), script_(std::move(script)), cost_(cost) {}
  ProbeResult Run(std::chrono::milliseconds timeout) override {
    timeouts.push_back(timeout);
    times.push_back(clock_.Now());
    if (cost_ > Clock::Duration(0)) {
      clock_.Advance(cost_);
    }
    ProbeResult r = script_.front();
    if (script_.size() > 1) {
      script_.pop_front();
    }
    return r;
  }
  std::vector<std::chrono::milliseconds> timeouts;
  std::vector<Clock::TimePoint> times;

 private:
  ManualClock& clock_;
  std::deque<ProbeResult> script_;
  Clock::Duration cost_;
};

const ProbeResult kOk{true, "HTTP/1.0 200 OK"};
const ProbeResult kBad{false, "HTTP status 500 not in 200-399 (HTTP/1.0 500 Internal Error)"};

class HealthCheckerTest : public ::testing::Test {
 protected:
  HealthCheckerTest() : sleeper_(clock_), checker_(clock_, sleeper_, runtime_) {
    runtime_.AddRunning("app-r2", 4242);
    start_ = clock_.Now();
  }
  HealthCheck Http() {
    HealthCheck c;
    c.kind = CheckKind::kHttp;
    c.url = "http://127.0.0.1:8080/";
    c.interval = HealthCheck::Seconds(1);
    c.deadline = HealthCheck::Seconds(30);
    return c;
  }
  Clock::Duration Elapsed() const { return clock_.Now() - start_; }

  ManualClock clock_;
  AdvancingSleeper sleeper_;
  FakeRuntime runtime_;
  HealthChecker checker_;
  Clock::TimePoint start_;
};

TEST_F(HealthCheckerTest, PassesOnFirstSuccess) {
  ScriptedProbe probe(clock_, {kOk});
  const auto r = checker_.Run(Http(), "app-r2", &probe);
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(r.probes, 1);
  EXPECT_EQ(r.last_output, "HTTP/1.0 200 OK");
  EXPECT_EQ(Elapsed(), 0s);
}

TEST_F(HealthCheckerTest, NeedsConsecutiveSuccesses) {
  auto check = Http();
  check.successes = 2;
  ScriptedProbe probe(clock_, {kBad, kOk, kBad, kOk, kOk});
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(r.probes, 5);
  EXPECT_EQ(r.reason, "http check passed 2 time(s) in a row");
  EXPECT_EQ(Elapsed(), 4s);  // probes at 0, 1, 2, 3, 4 s
}

TEST_F(HealthCheckerTest, HealthyForNeedsTheAppHealthyThatLongNotOnlyNSuccesses) {
  auto check = Http();
  check.successes = 2;
  check.healthy_for = HealthCheck::Seconds(5);
  ScriptedProbe probe(clock_, {kOk, kOk, kBad, kOk});
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_TRUE(r.passed) << r.reason;
  // Streak broken at 2 s; healthy again from 3 s, passed at 8 s.
  EXPECT_EQ(Elapsed(), 8s);
  EXPECT_EQ(r.reason, "http check passed 6 time(s) in a row over 5s");
}

TEST_F(HealthCheckerTest, AnAppThatAnswersForTwoSecondsAndExitsFailsHealthyFor) {
  auto check = Http();
  check.healthy_for = HealthCheck::Seconds(10);
  ScriptedProbe probe(clock_, {kOk});
  clock_.After(2s, [&] { runtime_.Exit("app-r2", 0); });
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.reason, "container exited with status 0");
}

TEST_F(HealthCheckerTest, ProcessCheckWaitsForHealthyForWhenLongerThanUp) {
  HealthCheck check;
  check.up = HealthCheck::Seconds(2);
  check.healthy_for = HealthCheck::Seconds(6);
  const auto r = checker_.Run(check, "app-r2", nullptr);
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(Elapsed(), 6s);
}

TEST_F(HealthCheckerTest, FailsOnWrongStatusAfterConsecutiveFailures) {
  auto check = Http();
  check.failures = 3;
  ScriptedProbe probe(clock_, {kBad});
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.probes, 3);
  EXPECT_NE(r.reason.find("http check failed 3 time(s) in a row"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("HTTP status 500"), std::string::npos) << r.reason;
  EXPECT_EQ(r.last_output, kBad.output);
  EXPECT_EQ(Elapsed(), 2s);
}

TEST_F(HealthCheckerTest, FailsAtTheDeadline) {
  auto check = Http();
  check.deadline = HealthCheck::Seconds(10);
  check.successes = 3;
  ScriptedProbe probe(clock_, {kBad, kOk, kOk, kBad});  // never three in a row
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("did not pass within 10s"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("last probe: HTTP status 500"), std::string::npos) << r.reason;
  EXPECT_EQ(Elapsed(), 10s);
  EXPECT_EQ(r.probes, 10);  // at 0..9 s: none is started at the deadline
}

// Past the deadline nothing can pass any more: the rollback waits for no further runtime call.
TEST_F(HealthCheckerTest, AtTheDeadlineAProbingTrialFailsWithoutAskingTheRuntimeAgain) {
  auto check = Http();
  check.deadline = HealthCheck::Seconds(10);
  ScriptedProbe probe(clock_, {kBad});
  int calls_at_deadline = -1;
  clock_.After(10s, [&] { calls_at_deadline = runtime_.StateCalls(); });
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("did not pass within 10s"), std::string::npos) << r.reason;
  EXPECT_EQ(Elapsed(), 10s);
  EXPECT_GT(calls_at_deadline, 0);
  EXPECT_EQ(runtime_.StateCalls(), calls_at_deadline);
}

TEST_F(HealthCheckerTest, FailuresDuringStartPeriodDoNotCount) {
  auto check = Http();
  check.failures = 2;
  check.start_period = HealthCheck::Seconds(5);
  std::deque<ProbeResult> script(5, kBad);  // 0..4 s: still starting
  script.push_back(kOk);
  ScriptedProbe probe(clock_, script);
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(r.probes, 6);

  // The same app without a start period fails on its second failure.
  ScriptedProbe again(clock_, script);
  check.start_period = HealthCheck::Seconds(0);
  const auto strict = checker_.Run(check, "app-r2", &again);
  EXPECT_FALSE(strict.passed);
  EXPECT_EQ(strict.probes, 2);
}

TEST_F(HealthCheckerTest, FailuresAfterStartPeriodCount) {
  auto check = Http();
  check.failures = 2;
  check.start_period = HealthCheck::Seconds(3);
  ScriptedProbe probe(clock_, {kBad});
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.probes, 5);  // 0, 1, 2 ignored; 3 and 4 count
  EXPECT_EQ(Elapsed(), 4s);
}

TEST_F(HealthCheckerTest, CrashFailsTheTrialAtOnce) {
  auto check = Http();
  check.interval = HealthCheck::Seconds(10);  // a crash is noticed between probes too
  ScriptedProbe probe(clock_, {kBad});
  clock_.After(3s, [&] { runtime_.Exit("app-r2", 3); });
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.reason, "container exited with status 3");
  EXPECT_EQ(r.last_output, kBad.output);
  EXPECT_GE(Elapsed(), 3s);
  EXPECT_LE(Elapsed(), 3s + HealthChecker::kStatePoll);
}

TEST_F(HealthCheckerTest, ContainerAlreadyExitedFailsBeforeAnyProbe) {
  runtime_.Exit("app-r2", 139);
  ScriptedProbe probe(clock_, {kOk});
  const auto r = checker_.Run(Http(), "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.reason, "container exited with status 139");
  EXPECT_EQ(r.probes, 0);
}

TEST_F(HealthCheckerTest, RestartFailsTheTrial) {
  HealthCheck check;  // process
  check.up = HealthCheck::Seconds(10);
  clock_.After(2s, [&] { runtime_.Restart("app-r2"); });
  const auto r = checker_.Run(check, "app-r2", nullptr);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("container restarted (pid 4242 became"), std::string::npos) << r.reason;
}

TEST_F(HealthCheckerTest, ProcessCheckPassesWhenTheContainerStaysUp) {
  HealthCheck check;
  check.up = HealthCheck::Seconds(5);
  const auto r = checker_.Run(check, "app-r2", nullptr);
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(r.reason, "container stayed up for 5s");
  EXPECT_EQ(Elapsed(), 5s);
  EXPECT_GE(runtime_.StateCalls(), 10);  // watched every kStatePoll
}

TEST_F(HealthCheckerTest, ProcessCheckFailsWhenTheContainerExits) {
  HealthCheck check;
  check.up = HealthCheck::Seconds(5);
  clock_.After(2s, [&] { runtime_.Exit("app-r2", 137); });
  const auto r = checker_.Run(check, "app-r2", nullptr);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.reason, "container exited with status 137");
  EXPECT_LE(Elapsed(), 2s + HealthChecker::kStatePoll);
}

TEST_F(HealthCheckerTest, MissingContainerFails) {
  ScriptedProbe probe(clock_, {kOk});
  const auto r = checker_.Run(Http(), "nope", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("cannot read container state"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("does not exist"), std::string::npos) << r.reason;
}

TEST_F(HealthCheckerTest, ProbeTimeoutNeverRunsPastTheDeadline) {
  auto check = Http();
  check.timeout = HealthCheck::Seconds(10);
  check.deadline = HealthCheck::Seconds(4);
  check.interval = HealthCheck::Seconds(1);
  ScriptedProbe probe(clock_, {kBad}, 1500ms);  // each probe takes 1.5 s
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  ASSERT_GE(probe.timeouts.size(), 2u);
  EXPECT_EQ(probe.timeouts[0], 4000ms);
  EXPECT_EQ(probe.timeouts[1], 1500ms);  // started at 2.5 s
  // Interval counts from the end of the previous probe.
  EXPECT_EQ(probe.times[1] - probe.times[0], 2500ms);
  EXPECT_LE(Elapsed(), 4s + 1500ms);
}

// A last probe started just before the deadline has almost no time and fails for want of it; the
// reason names what the app answered before, not that timeout.
TEST_F(HealthCheckerTest, ALastProbeCutShortByTheDeadlineDoesNotHideTheAppsAnswer) {
  auto check = Http();
  check.timeout = HealthCheck::Seconds(2);
  check.deadline = HealthCheck::Seconds(3);
  check.interval = HealthCheck::Seconds(1);
  const ProbeResult no_answer{false, "no HTTP response within 500 ms"};
  // 0 s: 500 (takes 1.5 s); 2.5 s: started with 500 ms left, which it uses up.
  ScriptedProbe probe(clock_, {kBad, no_answer}, 1500ms);
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(probe.timeouts.size(), 2u);
  EXPECT_EQ(probe.timeouts[1], 500ms);
  EXPECT_NE(r.reason.find("last probe: HTTP status 500"), std::string::npos) << r.reason;
  EXPECT_EQ(r.probes, 2);
}

TEST_F(HealthCheckerTest, CancelEndsTheTrial) {
  auto check = Http();
  ScriptedProbe probe(clock_, {kBad});
  sleeper_.CancelAfter(2);
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.reason, "trial cancelled");
}

TEST_F(HealthCheckerTest, AProbeStoppedByTheStopEndsTheTrialCancelledNotFailed) {
  auto check = Http();
  check.failures = 1;  // one counted failure would fail the trial
  ScriptedProbe probe(clock_, {{false, "reading the response: ferryd is stopping", true}});
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_FALSE(r.passed);
  EXPECT_TRUE(r.cancelled) << r.reason;
  EXPECT_EQ(r.reason, "trial cancelled");
  EXPECT_EQ(r.probes, 0);
}

TEST_F(HealthCheckerTest, LastOutputIsBounded) {
  ScriptedProbe probe(clock_, {{false, std::string(100000, 'x')}});
  auto check = Http();
  check.failures = 1;
  const auto r = checker_.Run(check, "app-r2", &probe);
  EXPECT_EQ(r.last_output.size(), TrialResult::kMaxOutput);
  EXPECT_LT(r.reason.size(), 2 * TrialResult::kMaxOutput);
}

TEST_F(HealthCheckerTest, ExecCheckRunsTheCommandInTheContainer) {
  HealthCheck check;
  check.kind = CheckKind::kExec;
  check.command = {"/bin/check", "--ready"};
  check.successes = 1;
  int calls = 0;
  std::vector<std::string> seen;
  runtime_.SetExecHandler([&](const std::string& id, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout) -> Result<runtime::ExecResult> {
    EXPECT_EQ(id, "app-r2");
    EXPECT_EQ(timeout, 2000ms);
    seen = argv;
    return runtime::ExecResult{++calls < 3 ? 1 : 0, false, calls < 3 ? "not ready\n" : "ready\n"};
  });
  const auto r = checker_.Run(check, "app-r2");
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(seen, check.command);
  EXPECT_EQ(r.last_output, "ready");
}

TEST_F(HealthCheckerTest, ExecCheckReportsExitStatusAndTimeouts) {
  HealthCheck check;
  check.kind = CheckKind::kExec;
  check.command = {"/bin/check"};
  check.failures = 2;
  bool slow = false;
  runtime_.SetExecHandler([&](const std::string&, const std::vector<std::string>&,
                              std::chrono::milliseconds) -> Result<runtime::ExecResult> {
    slow = !slow;
    return slow ? runtime::ExecResult{-1, true, ""} : runtime::ExecResult{4, false, "db down"};
  });
  const auto r = checker_.Run(check, "app-r2");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.last_output, "command exited with status 4: db down");
}

}  // namespace
}  // namespace ferry::health

namespace ferry::health {
namespace {

TEST(RealSleeper, CancelWakesASleeperOnAnotherThread) {
  RealSleeper sleeper;
  std::promise<bool> woke;
  std::thread t([&] {
    woke.set_value(sleeper.SleepUntil(std::chrono::steady_clock::now() + std::chrono::hours(1)));
  });
  sleeper.Cancel();
  auto result = woke.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(result.get());
  t.join();
  EXPECT_FALSE(sleeper.SleepUntil(std::chrono::steady_clock::now() + std::chrono::hours(1)));
}

TEST(RealSleeper, ReturnsTrueWhenTheTimeComes) {
  RealSleeper sleeper;
  EXPECT_TRUE(sleeper.SleepUntil(std::chrono::steady_clock::now()));
}

}  // namespace
}  // namespace ferry::health
