// A health-check sleeper that moves a ManualClock instead of waiting, so whole trials run in no
// real time. Header-only: for tests that link ferry::health (through the engine).
#pragma once

#include "ferry/core/clock.hpp"
#include "ferry/health/health_checker.hpp"

namespace ferry::testing {

class AdvancingSleeper final : public health::Sleeper {
 public:
  explicit AdvancingSleeper(ManualClock& clock) : clock_(clock) {}
  bool SleepUntil(Clock::TimePoint until) override {
    if (until > clock_.Now()) {
      clock_.Advance(until - clock_.Now());
    }
    return true;
  }

 private:
  ManualClock& clock_;
};

}  // namespace ferry::testing
