#include "ferry/fleet/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace ferry::fleet {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, AllowsTheBurstThenTheRate) {
  ManualClock clock;
  RateLimiter limiter(clock);
  const RateLimit limit{0.5, 3};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.Take("a", limit), 0s) << i;
  }
  EXPECT_EQ(limiter.Take("a", limit), 2s);  // one token every 2 s
  EXPECT_EQ(limiter.Take("b", limit), 0s);  // keys are independent
  clock.Advance(1s);
  EXPECT_EQ(limiter.Take("a", limit), 1s);
  clock.Advance(1s);
  EXPECT_EQ(limiter.Take("a", limit), 0s);
  // Idle time refills up to the burst, not beyond.
  clock.Advance(1h);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.Take("a", limit), 0s) << i;
  }
  EXPECT_GT(limiter.Take("a", limit), 0s);
}

TEST(RateLimiter, KeepsMemoryBoundedWithoutForgettingLimitedKeys) {
  ManualClock clock;
  RateLimiter limiter(clock, 100);
  const RateLimit limit{1, 2};
  for (int i = 0; i < 99; ++i) {
    (void)limiter.Take("idle" + std::to_string(i), limit);
  }
  clock.Advance(5s);  // the idle keys' buckets are full again
  EXPECT_EQ(limiter.Take("busy", limit), 0s);
  EXPECT_EQ(limiter.Take("busy", limit), 0s);
  EXPECT_EQ(limiter.Take("new", limit), 0s);  // over the bound: idle keys go, "busy" stays
  EXPECT_LE(limiter.Keys(), 2u);
  EXPECT_EQ(limiter.Take("busy", limit), 1s);
  for (int i = 0; i < 1000; ++i) {
    (void)limiter.Take("k" + std::to_string(i), limit);
  }
  EXPECT_LE(limiter.Keys(), 100u);
}

}  // namespace
}  // namespace ferry::fleet
