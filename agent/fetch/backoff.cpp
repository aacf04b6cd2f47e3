#include "ferry/fetch/backoff.hpp"

#include <algorithm>

namespace ferry::fetch {

std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy, std::uint32_t retry) {
  const auto base = std::max<std::int64_t>(policy.base.count(), 0);
  const auto cap = std::max<std::int64_t>(policy.max.count(), 0);
  std::int64_t ceiling = base;
  // Doubling stops once the cap is reached, so no shift ever overflows.
  for (std::uint32_t i = 0; i < retry && ceiling < cap; ++i) {
    ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
  }
  return std::chrono::milliseconds(std::min(ceiling, cap));
}

std::chrono::milliseconds JitteredBackoff(const BackoffPolicy& policy, std::uint32_t retry,
                                          double unit) {
  const std::int64_t ceiling = BackoffCeiling(policy, retry).count();
  const std::int64_t floor = std::max<std::int64_t>(policy.min.count(), 0);
  if (floor >= ceiling) {
    return std::chrono::milliseconds(floor);
  }
  const double u = std::clamp(unit, 0.0, 1.0);
  const auto span = static_cast<double>(ceiling - floor);
  return std::chrono::milliseconds(std::min(ceiling, floor + static_cast<std::int64_t>(u * span)));
}

}  // namespace ferry::fetch
