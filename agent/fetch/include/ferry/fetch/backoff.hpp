// Retry delays: exponential backoff with full jitter, so that a fleet of devices that lost the
// server at the same moment does not come back in lock step.
#pragma once

#include <chrono>
#include <cstdint>

namespace ferry::fetch {

struct BackoffPolicy {
  std::chrono::milliseconds base{1000};   // ceiling of the first retry's delay
  std::chrono::milliseconds max{60'000};  // no ceiling grows past this
  // Floor of every delay: full jitter can draw zero, and a retry loop must never spin.
  std::chrono::milliseconds min{100};
  // Attempts in a row that make no progress before a download gives up (the first included).
  std::uint32_t attempts = 8;
};

// The ceiling of the delay before retry number `retry` (0 for the first retry): min(max, base·2^n),
// without overflow for any n.
std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy, std::uint32_t retry);

// The delay before retry number `retry`, drawn uniformly from [min, ceiling] by `unit`, a number in
// [0, 1) (values outside are clamped). When min > ceiling the delay is min.
std::chrono::milliseconds JitteredBackoff(const BackoffPolicy& policy, std::uint32_t retry,
                                          double unit);

}  // namespace ferry::fetch
