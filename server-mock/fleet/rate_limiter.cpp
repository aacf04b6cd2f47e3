#include "ferry/fleet/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ferry::fleet {

std::chrono::seconds RateLimiter::Take(std::string_view key, const RateLimit& limit, double cost) {
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      Prune(now, limit);
    }
    it = buckets_.emplace(std::string(key), Bucket{limit.burst, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  b.tokens = std::min(limit.burst, b.tokens + elapsed * limit.rate);
  b.updated = now;
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return std::chrono::seconds(0);
  }
  const double wait = limit.rate > 0 ? (cost - b.tokens) / limit.rate : 3600.0;
  return std::chrono::seconds(std::max<long>(1, static_cast<long>(std::ceil(wait))));
}

std::chrono::seconds RateLimiter::Wait(std::string_view key, const RateLimit& limit) {
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    return std::chrono::seconds(0);
  }
  const Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  const double tokens = std::min(limit.burst, b.tokens + elapsed * limit.rate);
  if (tokens >= 1.0) {
    return std::chrono::seconds(0);
  }
  const double wait = limit.rate > 0 ? (1.0 - tokens) / limit.rate : 3600.0;
  return std::chrono::seconds(std::max<long>(1, static_cast<long>(std::ceil(wait))));
}

std::size_t RateLimiter::Keys() {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RateLimiter::Prune(Clock::TimePoint now, const RateLimit& limit) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
    return entry.second.tokens + elapsed * limit.rate >= limit.burst;
  });
  if (buckets_.size() < max_keys_) {
    return;
  }
  std::vector<Clock::TimePoint> times;
  times.reserve(buckets_.size());
  for (const auto& [key, bucket] : buckets_) {
    times.push_back(bucket.updated);
  }
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  const auto cutoff = *mid;
  std::erase_if(buckets_, [&](const auto& entry) { return entry.second.updated <= cutoff; });
}

}  // namespace ferry::fleet
