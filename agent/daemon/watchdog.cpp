#include "watchdog.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace ferry::daemon {

void Watchdog::Start() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
    return;
  }
  interval_ = std::chrono::microseconds(usec / 2);
  Ping();
}

void Watchdog::Ping() {
  sd_notify(0, "WATCHDOG=1");
  clock_.After(interval_, [this] { Ping(); });
}

}  // namespace ferry::daemon
