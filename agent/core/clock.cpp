#include "ferry/core/clock.hpp"

#include <vector>

#include "ferry/core/check.hpp"

namespace ferry {

Clock::TimePoint SystemClock::Now() const { return std::chrono::steady_clock::now(); }

Clock::WallTime SystemClock::WallNow() const { return std::chrono::system_clock::now(); }

Clock::TimerId SystemClock::After(Duration /*delay*/, std::function<void()> /*fn*/) {
  FERRY_CHECK(!"SystemClock has no event loop to run timers on");
  return 0;
}

void SystemClock::Cancel(TimerId /*id*/) {}

ManualClock::ManualClock(WallTime wall_start)
    : now_(TimePoint(std::chrono::hours(1))), wall_(wall_start) {}

Clock::TimePoint ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

Clock::WallTime ManualClock::WallNow() const {
  std::lock_guard lock(mu_);
  return wall_;
}

Clock::TimerId ManualClock::After(Duration delay, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  const TimerId id = next_id_++;
  timers_.emplace(now_ + delay, std::make_pair(id, std::move(fn)));
  return id;
}

void ManualClock::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
}

void ManualClock::Advance(Duration d) {
  std::unique_lock lock(mu_);
  const TimePoint target = now_ + d;
  // Fire timers one at a time, with the clock set to each timer's due time, so a callback that
  // schedules another timer within the window sees it fire too.
  while (!timers_.empty() && timers_.begin()->first <= target) {
    auto node = timers_.extract(timers_.begin());
    wall_ += node.key() - now_;
    now_ = node.key();
    auto fn = std::move(node.mapped().second);
    lock.unlock();
    fn();
    lock.lock();
  }
  wall_ += target - now_;
  now_ = target;
}

void ManualClock::SetWall(WallTime t) {
  std::lock_guard lock(mu_);
  wall_ = t;
}

std::size_t ManualClock::PendingTimers() const {
  std::lock_guard lock(mu_);
  return timers_.size();
}

}  // namespace ferry
