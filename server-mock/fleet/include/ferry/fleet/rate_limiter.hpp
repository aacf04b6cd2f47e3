// Per-key token buckets: each key may make `burst` requests at once and `rate` per second after.
// Time comes from a Clock (steady time), so tests drive it with ManualClock. Thread-safe.
//
// Memory stays bounded: when more than `max_keys` keys are tracked, buckets that have refilled
// completely (idle keys, indistinguishable from new ones) are dropped; if that is not enough, the
// oldest-touched half goes.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ferry/core/clock.hpp"

namespace ferry::fleet {

struct RateLimit {
  double rate = 1.0;  // requests per second, sustained
  double burst = 20;  // requests at once
};

class RateLimiter {
 public:
  RateLimiter(Clock& clock, std::size_t max_keys = 100000) : clock_(clock), max_keys_(max_keys) {}

  // Takes `cost` tokens (one request) from `key`'s bucket. Returns zero when allowed, else how
  // long until they would be there (at least one second, for Retry-After). `cost` above the burst
  // never passes.
  std::chrono::seconds Take(std::string_view key, const RateLimit& limit, double cost = 1.0);

  // How long until `key` could take a request, without taking one: zero when it could now.
  std::chrono::seconds Wait(std::string_view key, const RateLimit& limit);

  // Keys tracked now.
  std::size_t Keys();

 private:
  struct Bucket {
    double tokens = 0;
    Clock::TimePoint updated;
  };
  void Prune(Clock::TimePoint now, const RateLimit& limit);

  Clock& clock_;
  std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace ferry::fleet
