#include "ferry/fetch/backoff.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace ferry::fetch {
namespace {

using std::chrono::milliseconds;

BackoffPolicy Policy() {
  BackoffPolicy p;
  p.base = milliseconds(500);
  p.max = milliseconds(30'000);
  p.min = milliseconds(100);
  return p;
}

TEST(Backoff, CeilingDoublesFromBaseUntilTheCap) {
  const BackoffPolicy p = Policy();
  EXPECT_EQ(BackoffCeiling(p, 0), milliseconds(500));
  EXPECT_EQ(BackoffCeiling(p, 1), milliseconds(1000));
  EXPECT_EQ(BackoffCeiling(p, 2), milliseconds(2000));
  EXPECT_EQ(BackoffCeiling(p, 5), milliseconds(16'000));
  EXPECT_EQ(BackoffCeiling(p, 6), milliseconds(30'000));
  EXPECT_EQ(BackoffCeiling(p, 7), milliseconds(30'000));
}

TEST(Backoff, CeilingNeverOverflowsForAnyRetryCount) {
  BackoffPolicy p = Policy();
  p.max = milliseconds(INT64_MAX);
  for (std::uint32_t n : {62u, 63u, 64u, 1000u, UINT32_MAX}) {
    const auto c = BackoffCeiling(p, n);
    EXPECT_GT(c.count(), 0) << n;
    EXPECT_LE(c, p.max) << n;
  }
  EXPECT_EQ(BackoffCeiling(Policy(), UINT32_MAX), milliseconds(30'000));
}

TEST(Backoff, DelayStaysBetweenTheFloorAndTheCeiling) {
  const BackoffPolicy p = Policy();
  for (std::uint32_t retry = 0; retry < 12; ++retry) {
    for (double u : {0.0, 0.25, 0.5, 0.999999, 1.0, -3.0, 7.0}) {
      const auto d = JitteredBackoff(p, retry, u);
      EXPECT_GE(d, p.min) << retry << " " << u;
      EXPECT_LE(d, BackoffCeiling(p, retry)) << retry << " " << u;
    }
  }
  EXPECT_EQ(JitteredBackoff(p, 0, 0.0), milliseconds(100));  // never zero: no tight loop
}

TEST(Backoff, DelayIsJitteredAcrossDraws) {
  const BackoffPolicy p = Policy();
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 50; ++i) {
    seen.insert(JitteredBackoff(p, 4, unit(rng)).count());
  }
  EXPECT_GT(seen.size(), 40u);  // devices retrying together spread out
}

TEST(Backoff, DelaysGrowOnAverage) {
  const BackoffPolicy p = Policy();
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double previous_mean = 0;
  for (std::uint32_t retry = 0; retry < 6; ++retry) {
    double sum = 0;
    for (int i = 0; i < 400; ++i) {
      sum += static_cast<double>(JitteredBackoff(p, retry, unit(rng)).count());
    }
    const double mean = sum / 400;
    EXPECT_GT(mean, previous_mean * 1.5) << retry;
    previous_mean = mean;
  }
}

TEST(Backoff, FloorAboveCeilingGivesTheFloor) {
  BackoffPolicy p = Policy();
  p.base = milliseconds(10);
  p.min = milliseconds(250);
  EXPECT_EQ(JitteredBackoff(p, 0, 0.9), milliseconds(250));
}

}  // namespace
}  // namespace ferry::fetch
