#include "ferry/health/health_checker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace ferry::health {

using manifest::CheckKind;
using manifest::HealthCheck;
using manifest::KindName;
namespace {

using runtime::ContainerStatus;
using Duration = Clock::Duration;

Duration ToDuration(HealthCheck::Seconds s) { return std::chrono::duration_cast<Duration>(s); }

std::string SecondsText(HealthCheck::Seconds s) { return fmt::format("{:g}s", s.count()); }

std::string Bounded(std::string text) {
  if (text.size() > TrialResult::kMaxOutput) {
    text.resize(TrialResult::kMaxOutput);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

TrialResult Failed(std::string reason, const std::string& last_output, int probes) {
  return {false, false, std::move(reason), last_output, probes};
}

std::string DeadlineReason(const HealthCheck& check, int ok_in_a_row, int probes,
                           const std::string& last_output) {
  return fmt::format("{} check did not pass within {} ({} of {} successes); last probe: {}",
                     KindName(check.kind), SecondsText(check.deadline), ok_in_a_row,
                     check.successes, probes == 0 ? "none" : last_output);
}

TrialResult Cancelled(const std::string& last_output, int probes) {
  return {false, true, "trial cancelled", last_output, probes};
}

}  // namespace

bool RealSleeper::SleepUntil(Clock::TimePoint until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [this] { return cancelled_; });
  return !cancelled_;
}

void RealSleeper::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

TrialResult HealthChecker::Run(const HealthCheck& check, const std::string& container_id) {
  auto probe = MakeProbe(check, runtime_, container_id, cancel_);
  return Run(check, container_id, probe.get());
}

TrialResult HealthChecker::Run(const HealthCheck& check, const std::string& container_id,
                               Probe* probe) {
  const bool probing = check.kind != CheckKind::kProcess && probe != nullptr;
  const Clock::TimePoint start = clock_.Now();
  const Clock::TimePoint deadline = start + ToDuration(check.deadline);
  const Clock::TimePoint counting_from = start + ToDuration(check.start_period);
  const Clock::TimePoint up_until = start + ToDuration(std::max(check.up, check.healthy_for));
  Clock::TimePoint next_probe = start;
  std::optional<int> first_pid;
  std::string last_output;
  int probes = 0;
  int ok_in_a_row = 0;
  int failed_in_a_row = 0;
  Clock::TimePoint healthy_since{};  // the first success of the current streak

  for (;;) {
    if (probing && first_pid && clock_.Now() >= deadline) {
      // The verdict is failure whatever the container's state: a rollback waits for no runtime
      // call (it checks the failed container itself).
      return Failed(DeadlineReason(check, ok_in_a_row, probes, last_output), last_output, probes);
    }
    // The container first: a crash or restart fails the trial whatever the probes say.
    auto state = runtime_.State(container_id);
    if (!state && state.error().Is(Errc::kCancelled)) {
      return Cancelled(last_output, probes);
    }
    if (!state) {
      return Failed("cannot read container state: " + state.error().message(), last_output, probes);
    }
    if (state->status == ContainerStatus::kStopped) {
      return Failed(state->exit_code
                        ? "container exited with status " + std::to_string(*state->exit_code)
                        : std::string("container exited (status unknown)"),
                    last_output, probes);
    }
    if (state->status != ContainerStatus::kRunning) {
      return Failed(
          std::string("container is ") + runtime::StatusName(state->status) + ", not running",
          last_output, probes);
    }
    if (!first_pid) {
      first_pid = state->pid;
    } else if (*first_pid != state->pid) {
      return Failed("container restarted (pid " + std::to_string(*first_pid) + " became " +
                        std::to_string(state->pid) + ")",
                    last_output, probes);
    }

    Clock::TimePoint now = clock_.Now();
    if (!probing && now >= up_until) {
      return {true, false,
              "container stayed up for " + SecondsText(std::max(check.up, check.healthy_for)),
              last_output, 0};
    }
    if (probing && now >= next_probe && now < deadline) {
      const auto budget =
          std::min(ToDuration(check.timeout), std::max(deadline - now, Duration(0)));
      const auto result = probe->Run(std::chrono::ceil<std::chrono::milliseconds>(budget));
      if (result.cancelled) {
        return Cancelled(last_output, probes);
      }
      ++probes;
      now = clock_.Now();
      // A probe that failed once the trial's time, not its own timeout, ran out says nothing new
      // about the app ("no HTTP response within 1 ms"): the reason keeps what the probe before it
      // saw.
      const bool cut_short = budget < ToDuration(check.timeout) && now >= deadline;
      if (result.healthy || !cut_short || probes == 1) {
        last_output = Bounded(result.output);
      }
      if (result.healthy) {
        failed_in_a_row = 0;
        if (ok_in_a_row++ == 0) {
          healthy_since = now;
        }
        // Consecutive successes are not enough when the app must also stay healthy a while: an
        // app that answers for 2 s and then dies must not pass.
        if (ok_in_a_row >= check.successes &&
            now - healthy_since >= ToDuration(check.healthy_for)) {
          return {
              true, false,
              check.healthy_for.count() > 0
                  ? fmt::format("{} check passed {} time(s) in a row over {}", KindName(check.kind),
                                ok_in_a_row, SecondsText(check.healthy_for))
                  : fmt::format("{} check passed {} time(s) in a row", KindName(check.kind),
                                ok_in_a_row),
              last_output, probes};
        }
      } else {
        ok_in_a_row = 0;
        // Failures while the app is still starting do not count.
        if (now >= counting_from && ++failed_in_a_row >= check.failures && check.failures > 0) {
          return Failed(fmt::format("{} check failed {} time(s) in a row: {}", KindName(check.kind),
                                    failed_in_a_row, last_output),
                        last_output, probes);
        }
      }
      next_probe = now + ToDuration(check.interval);
    }
    if (now >= deadline) {
      return Failed(DeadlineReason(check, ok_in_a_row, probes, last_output), last_output, probes);
    }
    Clock::TimePoint wake = std::min({now + kStatePoll, deadline, probing ? next_probe : up_until});
    if (!sleeper_.SleepUntil(std::max(wake, now))) {
      return Cancelled(last_output, probes);
    }
  }
}

}  // namespace ferry::health
