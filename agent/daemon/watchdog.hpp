// systemd's watchdog (WatchdogSec= in the unit): ferryd pings it at half the interval from its
// event loop, so that a wedged loop stops the pings and systemd restarts ferryd.
#pragma once

#include <chrono>

#include "ferry/core/clock.hpp"

namespace ferry::daemon {

class Watchdog {
 public:
  // `clock` must outlive the watchdog; its timers fire on the event loop.
  explicit Watchdog(Clock& clock) : clock_(clock) {}

  // Starts pinging when systemd asks for it (WATCHDOG_USEC); does nothing otherwise.
  void Start();

 private:
  void Ping();

  Clock& clock_;
  std::chrono::microseconds interval_{0};
};

}  // namespace ferry::daemon
