// The trial of a started container: probes its health check until it passes, fails or runs out
// of time, and fails at once when the container exits or restarts.
//
// Blocking by design: a trial lasts seconds to minutes and mostly waits, so ferryd runs it on a
// worker thread, never on the event loop. Time comes from a Clock and waiting goes through a
// Sleeper, so unit tests run whole trials on a ManualClock without sleeping; Cancel() on the
// sleeper (from any thread) ends a trial at its next wait, and the CancelToken given to the
// checker ends a probe in flight too (without one, the probe finishes first, within its timeout).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/health/probe.hpp"
#include "ferry/manifest/health_check.hpp"
#include "ferry/runtime/container_runtime.hpp"

namespace ferry::health {

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Returns once the clock reaches `until` (true) or the sleeper is cancelled (false).
  virtual bool SleepUntil(Clock::TimePoint until) = 0;
};

// Waits in real time (steady_clock, the same time base as AsioClock::Now). Cancel() is sticky:
// every later SleepUntil returns false at once.
class RealSleeper final : public Sleeper {
 public:
  bool SleepUntil(Clock::TimePoint until) override;
  void Cancel();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

struct TrialResult {
  bool passed = false;
  bool cancelled = false;
  std::string reason;  // "http check passed 2 times in a row", "container exited with status 3"
  std::string last_output;  // of the last probe, at most kMaxOutput bytes
  int probes = 0;
  static constexpr std::size_t kMaxOutput = 1024;
};

class HealthChecker {
 public:
  // `clock`, `sleeper`, `runtime` and `cancel` must outlive the checker. `cancel` (ferryd's stop)
  // also ends a probe in flight: the trial then ends cancelled at once, the probe's failure not
  // counted.
  HealthChecker(const Clock& clock, Sleeper& sleeper, runtime::ContainerRuntime& runtime,
                const CancelToken* cancel = nullptr)
      : clock_(clock), sleeper_(sleeper), runtime_(runtime), cancel_(cancel) {}

  // Runs the trial of `container_id` (already started) with the real probe for `check`.
  TrialResult Run(const manifest::HealthCheck& check, const std::string& container_id);
  // The same with a given probe (nullptr for the process kind); used by tests.
  TrialResult Run(const manifest::HealthCheck& check, const std::string& container_id,
                  Probe* probe);

  // How often the container's state is read between probes, so a crash fails the trial within
  // this time.
  static constexpr std::chrono::milliseconds kStatePoll{500};

 private:
  const Clock& clock_;
  Sleeper& sleeper_;
  runtime::ContainerRuntime& runtime_;
  const CancelToken* cancel_;
};

}  // namespace ferry::health
