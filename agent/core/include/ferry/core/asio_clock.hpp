// The production Clock: real time, with timers run on an Asio io_context (ferryd's event loop).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "ferry/core/clock.hpp"

namespace ferry {

class AsioClock final : public Clock {
 public:
  explicit AsioClock(boost::asio::io_context& io) : io_(io) {}
  ~AsioClock() override;  // cancels every pending timer

  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  TimerId After(Duration delay, std::function<void()> fn) override;
  void Cancel(TimerId id) override;

 private:
  boost::asio::io_context& io_;
  std::mutex mu_;
  TimerId next_id_ = 1;
  std::unordered_map<TimerId, std::shared_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace ferry
