#include "ferry/core/clock.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ferry {
namespace {

using namespace std::chrono_literals;

TEST(ManualClock, AdvanceFiresDueTimersInOrder) {
  ManualClock clock;
  std::vector<int> fired;
  clock.After(30s, [&] { fired.push_back(30); });
  clock.After(10s, [&] { fired.push_back(10); });
  clock.After(90s, [&] { fired.push_back(90); });
  clock.Advance(29s);
  EXPECT_EQ(fired, (std::vector<int>{10}));
  clock.Advance(1s);
  EXPECT_EQ(fired, (std::vector<int>{10, 30}));
  EXPECT_EQ(clock.PendingTimers(), 1u);
}

TEST(ManualClock, CancelledTimerNeverFires) {
  ManualClock clock;
  bool fired = false;
  auto id = clock.After(5s, [&] { fired = true; });
  clock.Cancel(id);
  clock.Advance(1min);
  EXPECT_FALSE(fired);
}

TEST(ManualClock, TimerScheduledFromCallbackFiresWithinTheSameAdvance) {
  ManualClock clock;
  int count = 0;
  std::function<void()> tick = [&] {
    ++count;
    clock.After(10s, tick);
  };
  clock.After(10s, tick);
  clock.Advance(35s);
  EXPECT_EQ(count, 3);
}

TEST(ManualClock, CallbackSeesItsDueTime) {
  ManualClock clock;
  const auto start = clock.Now();
  Clock::TimePoint seen;
  clock.After(7s, [&] { seen = clock.Now(); });
  clock.Advance(1h);
  EXPECT_EQ(seen - start, 7s);
  EXPECT_EQ(clock.Now() - start, 1h);
}

TEST(ManualClock, WallClockMovesWithAdvanceAndCanBeReset) {
  ManualClock clock;
  const auto wall = clock.WallNow();
  clock.Advance(2s);
  EXPECT_EQ(clock.WallNow() - wall, 2s);
  clock.SetWall(Clock::WallTime{});
  EXPECT_EQ(clock.WallNow().time_since_epoch().count(), 0);
}

}  // namespace
}  // namespace ferry
