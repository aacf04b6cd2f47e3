#include "supervisor.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <deque>

#include "ferry/engine/layout.hpp"
#include "support/fake_runtime.hpp"
#include "support/temp_dir.hpp"

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
    auto s = store::OpenStateStore(dir_ / "state.db");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->PutApp("web"));
    for (const char* id : {"web-1", "web-2"}) {
      store::RevisionRecord r;
      r.id = id;
      r.app = "web";
      r.version = id[4] == '1' ? "1.0.0" : "2.0.0";
      r.manifest_digest = "sha256:" + std::string(64, 'a');
      r.state = store::RevisionState::kCommitted;
      ASSERT_TRUE(store_->AddRevision(r));
    }
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
          runtime_.Restart(Id("web-1"));
          return Ok();
        });
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
  std::unique_ptr<store::StateStore> store_;
  testing::FakeRuntime runtime_;
  ManualClock clock_;
  std::deque<std::function<void()>> work_;
  std::map<int, std::function<void()>> watches_;
  std::vector<std::string> restarts_asked_;
  std::unique_ptr<Supervisor> supervisor_;
};

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
