// Time for domain code, given as a `const Clock&` (or `Clock&` where timers are set) at
// construction. ferryd uses AsioClock (asio_clock.hpp), whose timers run on its event loop; tools
// without an event loop use SystemClock; tests use ManualClock, whose Advance() fires the timers
// that fall due, so no test sleeps to wait for something.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace ferry {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;
  using TimerId = std::uint64_t;

  virtual ~Clock() = default;

  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, for expiry of signed metadata and for records shown to people.
  virtual WallTime WallNow() const = 0;

  // Calls `fn` once, `delay` from now, on the thread that drives the clock (ferryd's event loop,
  // or the test calling ManualClock::Advance). Returns an id for Cancel.
  virtual TimerId After(Duration delay, std::function<void()> fn) = 0;
  // Cancels a timer that has not fired yet; cancelling a fired or unknown timer does nothing.
  virtual void Cancel(TimerId id) = 0;
};

// Real time for programs without an event loop (CLI tools, test harnesses): Now and WallNow read
// std::chrono::steady_clock and system_clock. It has nothing to run timers on: After aborts through
// FERRY_CHECK, so code that needs timers must be given an AsioClock or a ManualClock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  WallTime WallNow() const override;
  TimerId After(Duration delay, std::function<void()> fn) override;  // aborts
  void Cancel(TimerId id) override;                                  // does nothing
};

// A clock that moves only when told to. Thread-safe; timers fire inside Advance/Set, in due order.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime wall_start = WallTime(std::chrono::seconds(1'700'000'000)));

  TimePoint Now() const override;
  WallTime WallNow() const override;
  TimerId After(Duration delay, std::function<void()> fn) override;
  void Cancel(TimerId id) override;

  // Moves both clocks forward by `d`, firing every timer that falls due on the way.
  void Advance(Duration d);
  // Sets the wall clock alone (as an operator or a dead RTC battery would).
  void SetWall(WallTime t);
  // Number of timers not yet fired.
  std::size_t PendingTimers() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  WallTime wall_;
  TimerId next_id_ = 1;
  std::multimap<TimePoint, std::pair<TimerId, std::function<void()>>> timers_;
};

}  // namespace ferry
