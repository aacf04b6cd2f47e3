#include "supervisor.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <deque>

#include "ferry/engine/layout.hpp"
#include "support/fake_runtime.hpp"
#include "support/temp_dir.hpp"
#include "web_store.hpp"

namespace ferry::daemon {
namespace {

using namespace std::chrono_literals;

TEST(RestartBackoffTest, DoublesFromOneSecondToFiveMinutes) {
  RestartBackoff b;
  const Clock::TimePoint t{};
  std::vector<long> waits;
  for (int i = 0; i < 11; ++i) {
    waits.push_back(static_cast<long>(b.Next(t, t + 5s).count()));
  }
  EXPECT_EQ(waits, (std::vector<long>{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}));
}

TEST(RestartBackoffTest, StartsOverAfterTenMinutesUp) {
  RestartBackoff b;
  const Clock::TimePoint t{};
  EXPECT_EQ(b.Next(t, t + 1s), 1s);
  EXPECT_EQ(b.Next(t, t + 1s), 2s);
  EXPECT_EQ(b.Next(t, t + 10min - 1s), 4s);
  EXPECT_EQ(b.Next(t, t + 10min), 1s);
  EXPECT_EQ(b.Next(t, t + 1s), 2s);
}

TEST(RestartPolicyTest, DecidesByPolicyAndExit) {
  EXPECT_TRUE(ShouldRestart(RestartPolicy::kAlways, 0));
  EXPECT_TRUE(ShouldRestart(RestartPolicy::kAlways, 137));
  EXPECT_FALSE(ShouldRestart(RestartPolicy::kOnFailure, 0));
  EXPECT_TRUE(ShouldRestart(RestartPolicy::kOnFailure, 1));
  EXPECT_TRUE(ShouldRestart(RestartPolicy::kOnFailure, std::nullopt));
  EXPECT_FALSE(ShouldRestart(RestartPolicy::kNever, 137));
  EXPECT_EQ(ParseRestartPolicy("on-failure").value(), RestartPolicy::kOnFailure);
  EXPECT_FALSE(ParseRestartPolicy("sometimes"));
  EXPECT_EQ(DescribeExit(137), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(DescribeExit(3), "exited with status 3");
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenWebStore(dir_ / "state.db", clock_, store_));
    ASSERT_TRUE(store_->SetAppRevisions("web", "web-1", std::nullopt));
    runtime_.AddRunning(Id("web-1"), 500);
  }

  void Make(RestartPolicy policy) {
    supervisor_ = std::make_unique<Supervisor>(
        clock_, runtime_, *store_, policy,
        [this](std::function<void()> fn) { work_.push_back(std::move(fn)); },
        [this](int pid, std::function<void()> on_exit) {
          watches_[pid] = std::move(on_exit);
          return true;
        },
        [this](const std::string& app) -> Status {
          restarts_asked_.push_back(app);
          if (runtime_.Get(Id("web-1"))) {
            runtime_.Restart(Id("web-1"));
          } else {  // stopped and deleted (an unhealthy restart): created and started anew
            runtime_.AddRunning(Id("web-1"));
          }
          return Ok();
        });
    Supervisor::AfterCommit hooks;
    hooks.fail_probation = [this](const std::string& app, const std::string& revision,
                                  const std::string& reason) -> Status {
      rollbacks_.push_back(app + " " + revision + ": " + reason);
      EXPECT_TRUE(runtime_.Stop(Id(revision), 0ms));
      runtime_.AddRunning(Id("web-2"), 700);
      return store_->SetAppRevisions("web", "web-2", std::nullopt);
    };
    hooks.health_check = [this](const std::string&,
                                const std::string&) -> Result<manifest::HealthCheck> {
      return check_;
    };
    hooks.event = [this](const std::string& kind, const std::string& app,
                         const std::string& revision, const std::string& reason) {
      events_.push_back(kind + " " + app + " " + revision + ": " + reason);
    };
    supervisor_->SetAfterCommit(std::move(hooks));
    supervisor_->Sync();
  }

  static std::string Id(const std::string& revision) {
    return engine::ContainerId("web", revision);
  }

  void RunWork() {
    while (!work_.empty()) {
      auto fn = std::move(work_.front());
      work_.pop_front();
      fn();
    }
  }

  // The container's process ends: the pidfd fires on the event loop, the work runs on the worker.
  void Die(int pid, int status) {
    runtime_.Exit(Id("web-1"), status);
    ASSERT_TRUE(watches_.contains(pid));
    auto on_exit = std::move(watches_[pid]);
    watches_.erase(pid);
    on_exit();
    RunWork();
  }

  void Advance(Clock::Duration d) {
    clock_.Advance(d);
    RunWork();
  }

  Supervision Shown() { return supervisor_->Snapshot().at("web"); }

  int Pid() {
    auto c = runtime_.Get(Id("web-1"));
    return c ? c->state.pid : 0;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<store::StateStore> store_;
  testing::FakeRuntime runtime_;
  std::deque<std::function<void()>> work_;
  std::map<int, std::function<void()>> watches_;
  std::vector<std::string> restarts_asked_;
  std::vector<std::string> rollbacks_;
  std::vector<std::string> events_;
  manifest::HealthCheck check_;  // the process check: no liveness probe
  std::unique_ptr<Supervisor> supervisor_;

  // web-1 in a probation of 300 s ends twice, each end restarted after its backoff.
  void EndTwiceInProbation() {
    ASSERT_TRUE(store_->SetProbation("web-1", clock_.WallNow() + 300s));
    Make(RestartPolicy::kAlways);
    Die(500, 1);
    Advance(1s);
    Die(Pid(), 1);
    Advance(2s);
  }
};

TEST_F(SupervisorTest, ACrashLoopInProbationRollsBackInsteadOfRestarting) {
  ASSERT_NO_FATAL_FAILURE(EndTwiceInProbation());
  ASSERT_EQ(restarts_asked_.size(), 2u);
  EXPECT_TRUE(rollbacks_.empty());
  Die(Pid(), 1);
  ASSERT_EQ(rollbacks_.size(), 1u);
  EXPECT_EQ(rollbacks_[0], "web web-1: crash loop: ended 3 times, the last: exited with status 1");
  Advance(1h);
  EXPECT_EQ(restarts_asked_.size(), 2u);  // never restarted again
  EXPECT_TRUE(watches_.contains(700));    // the revision it went back to is watched
  EXPECT_TRUE(Shown().running);
  EXPECT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0], "restarted web web-1: exited: exited with status 1");
}

TEST_F(SupervisorTest, ACrashLoopInProbationGoesOnCountingAfterFerrydRestarts) {
  ASSERT_NO_FATAL_FAILURE(EndTwiceInProbation());
  EXPECT_TRUE(rollbacks_.empty());
  // ferryd is killed and started again: a new supervisor adopts the running container.
  supervisor_.reset();
  watches_.clear();
  work_.clear();
  Make(RestartPolicy::kAlways);
  ASSERT_TRUE(watches_.contains(Pid()));
  EXPECT_EQ(Shown().restarts, 0u);  // since this ferryd started
  Die(Pid(), 1);
  ASSERT_EQ(rollbacks_.size(), 1u);
  EXPECT_EQ(rollbacks_[0], "web web-1: crash loop: ended 3 times, the last: exited with status 1");
}

TEST_F(SupervisorTest, AfterProbationACrashLoopIsOnlyRestarted) {
  ASSERT_TRUE(store_->SetProbation("web-1", clock_.WallNow() + 5s));
  Make(RestartPolicy::kAlways);
  Advance(5s);
  for (auto wait : {1s, 2s, 4s, 8s}) {
    Die(Pid(), 1);
    Advance(wait);
  }
  EXPECT_TRUE(rollbacks_.empty());
  EXPECT_EQ(restarts_asked_.size(), 4u);
  EXPECT_EQ(Shown().restarts, 4u);
  EXPECT_EQ(Shown().last_restart_reason, "exited");
}

class LivenessTest : public SupervisorTest {
 protected:
  void SetUp() override {
    SupervisorTest::SetUp();
    check_.kind = manifest::CheckKind::kExec;
    check_.command = {"/bin/check"};
    check_.liveness_interval = manifest::HealthCheck::Seconds(10);
    check_.liveness_failures = 3;
    runtime_.SetExecHandler([this](const std::string&, const std::vector<std::string>&,
                                   std::chrono::milliseconds) -> Result<runtime::ExecResult> {
      ++probes_;
      return runtime::ExecResult{healthy_ ? 0 : 1, false, healthy_ ? "ok" : "not ok"};
    });
  }
  bool healthy_ = true;
  int probes_ = 0;
};

TEST_F(LivenessTest, ProbesOnOneTimerAtItsIntervalOnly) {
  Make(RestartPolicy::kAlways);
  EXPECT_EQ(clock_.PendingTimers(), 1u);
  EXPECT_FALSE(Shown().healthy);
  Advance(9s);
  EXPECT_EQ(probes_, 0);
  Advance(1s);
  EXPECT_EQ(probes_, 1);
  EXPECT_EQ(Shown().healthy, true);
  EXPECT_EQ(clock_.PendingTimers(), 1u);
  for (int i = 0; i < 5; ++i) {
    Advance(10s);
  }
  EXPECT_EQ(probes_, 6);
}

TEST_F(LivenessTest, AnUnhealthyAppIsRestartedAndCountedAsUnhealthy) {
  Make(RestartPolicy::kAlways);
  healthy_ = false;
  Advance(10s);
  Advance(10s);
  EXPECT_EQ(Shown().healthy, false);
  EXPECT_TRUE(restarts_asked_.empty());
  Advance(10s);  // the third failure in a row
  ASSERT_EQ(restarts_asked_.size(), 1u);
  EXPECT_EQ(Shown().restarts, 1u);
  EXPECT_EQ(Shown().last_restart_reason, "unhealthy");
  EXPECT_TRUE(Shown().running);
  EXPECT_TRUE(rollbacks_.empty());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0],
            "restarted web web-1: unhealthy: exec check failed 3 times in a row: "
            "command exited with status 1: not ok");
  EXPECT_TRUE(watches_.contains(Pid()));
  healthy_ = true;
  Advance(10s);
  EXPECT_EQ(Shown().healthy, true);
  EXPECT_EQ(clock_.PendingTimers(), 1u);  // one chain of probes, not one per process seen
}

TEST_F(LivenessTest, SustainedUnhealthinessInProbationRollsBack) {
  ASSERT_TRUE(store_->SetProbation("web-1", clock_.WallNow() + 300s));
  Make(RestartPolicy::kAlways);
  healthy_ = false;
  for (int i = 0; i < 3; ++i) {
    Advance(10s);
  }
  ASSERT_EQ(rollbacks_.size(), 1u);
  EXPECT_EQ(rollbacks_[0],
            "web web-1: unhealthy: exec check failed 3 times in a row: "
            "command exited with status 1: not ok");
  EXPECT_TRUE(restarts_asked_.empty());
  EXPECT_TRUE(watches_.contains(700));
}

TEST_F(LivenessTest, ZeroIntervalTurnsItOff) {
  check_.liveness_interval = manifest::HealthCheck::Seconds(0);
  Make(RestartPolicy::kAlways);
  EXPECT_EQ(clock_.PendingTimers(), 0u);
  Advance(1h);
  EXPECT_EQ(probes_, 0);
}

TEST_F(SupervisorTest, WatchesTheRunningContainerWithoutTimers) {
  Make(RestartPolicy::kAlways);
  EXPECT_TRUE(watches_.contains(500));
  EXPECT_EQ(clock_.PendingTimers(), 0u);
  EXPECT_TRUE(Shown().running);
  EXPECT_EQ(Shown().restarts, 0u);
}

TEST_F(SupervisorTest, RestartsAKilledAppAfterTheBackoffAndCountsIt) {
  Make(RestartPolicy::kAlways);
  Die(500, 128 + SIGKILL);
  EXPECT_FALSE(Shown().running);
  EXPECT_EQ(Shown().last_exit, 128 + SIGKILL);
  Advance(999ms);
  EXPECT_TRUE(restarts_asked_.empty());
  Advance(1ms);
  ASSERT_EQ(restarts_asked_.size(), 1u);
  EXPECT_TRUE(Shown().running);
  EXPECT_EQ(Shown().restarts, 1u);
  EXPECT_EQ(Shown().last_exit, 128 + SIGKILL);
  EXPECT_TRUE(watches_.contains(Pid()));
  EXPECT_EQ(clock_.PendingTimers(), 0u);
}

TEST_F(SupervisorTest, ACrashLoopBacksOffThenStartsOverAfterTenMinutesUp) {
  Make(RestartPolicy::kAlways);
  for (auto wait : {1s, 2s, 4s, 8s}) {
    Die(Pid(), 1);
    Advance(wait - 1ms);
    const auto before = restarts_asked_.size();
    Advance(1ms);
    EXPECT_EQ(restarts_asked_.size(), before + 1) << "after " << wait.count() << " s";
  }
  Advance(10min);
  Die(Pid(), 1);
  Advance(1s);
  EXPECT_EQ(restarts_asked_.size(), 5u);
  EXPECT_EQ(Shown().restarts, 5u);
}

TEST_F(SupervisorTest, NeverLeavesItDown) {
  Make(RestartPolicy::kNever);
  Die(500, 128 + SIGKILL);
  Advance(1h);
  EXPECT_TRUE(restarts_asked_.empty());
  EXPECT_FALSE(Shown().running);
  EXPECT_EQ(Shown().restarts, 0u);
  EXPECT_EQ(clock_.PendingTimers(), 0u);
}

TEST_F(SupervisorTest, OnFailureLeavesACleanExitDown) {
  Make(RestartPolicy::kOnFailure);
  Die(500, 0);
  Advance(1h);
  EXPECT_TRUE(restarts_asked_.empty());
  EXPECT_FALSE(Shown().running);
}

TEST_F(SupervisorTest, StandsAsideForAnUpdateAndWatchesWhatItCommitted) {
  Make(RestartPolicy::kAlways);
  // An update stopped web-1 and committed web-2; the exit is handled after it, on the worker.
  runtime_.AddRunning(Id("web-2"), 700);
  ASSERT_TRUE(store_->SetAppRevisions("web", "web-2", "web-1"));
  Die(500, 128 + SIGTERM);
  Advance(1h);
  EXPECT_TRUE(restarts_asked_.empty());
  EXPECT_TRUE(watches_.contains(700));
  EXPECT_TRUE(Shown().running);
  EXPECT_EQ(Shown().restarts, 0u);
}

TEST(PidfdWatcherTest, SeesAProcessEndWithoutPolling) {
  boost::asio::io_context io;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  bool ended = false;
  ASSERT_TRUE(PidfdWatcher(io)(child, [&] { ended = true; }));
  io.poll();
  EXPECT_FALSE(ended);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  io.run_one();
  EXPECT_TRUE(ended);
  int status = 0;
  ::waitpid(child, &status, 0);
}

}  // namespace
}  // namespace ferry::daemon
