#include "ferry/fetch/http_headers.hpp"

#include <gtest/gtest.h>

namespace ferry::fetch {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// 1994-11-06 08:49:37 UTC, the example date of RFC 9110.
const system_clock::time_point kRfcDate = system_clock::time_point(seconds(784111777));

TEST(ContentRange, ParsesASatisfiedRange) {
  const auto r = ParseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 100u);
  EXPECT_EQ(r->last, 199u);
  EXPECT_EQ(r->total, 1000u);
}

TEST(ContentRange, AcceptsUnknownTotalAndSurroundingSpace) {
  const auto r = ParseContentRange("  bytes 0-0/*\t");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 0u);
  EXPECT_FALSE(r->total);
}

TEST(ContentRange, ParsesPositionsPast4GiB) {
  const auto r = ParseContentRange("bytes 4294967296-8589934591/8589934592");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 4294967296u);
  EXPECT_EQ(r->total, 8589934592u);
}

TEST(ContentRange, RefusesMalformedValues) {
  for (const char* bad :
       {"", "bytes", "bytes */1000", "items 0-9/10", "bytes 10-9/100", "bytes 0-99/99",
        "bytes 0-99/50", "bytes -5-10/100", "bytes +5-10/100", "bytes 5 -10/100", "bytes 5-10/1 00",
        "bytes 0x10-20/100", "bytes 5-/100", "bytes -10/100", "bytes 0-99/", "bytes 0-99",
        "bytes 0-18446744073709551616/18446744073709551617", "Bytes 0-9/10", "bytes 0-9/10/11"}) {
    EXPECT_FALSE(ParseContentRange(bad)) << bad;
  }
}

TEST(HttpDate, ParsesTheThreeFormsOfRfc9110) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcDate);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcDate);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), kRfcDate);
}

TEST(HttpDate, RefusesMalformedDates) {
  for (const char* bad :
       {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Funday, 06-Nov-94 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "1994-11-06T08:49:37Z"}) {
    EXPECT_FALSE(ParseHttpDate(bad)) << bad;
  }
}

TEST(RetryAfter, TakesDelaySeconds) {
  EXPECT_EQ(ParseRetryAfter("120", kRfcDate), seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", kRfcDate), seconds(0));
}

TEST(RetryAfter, TurnsADateIntoTheDelayFromNow) {
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", kRfcDate), seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kRfcDate), seconds(0));
}

TEST(RetryAfter, ADateInThePastMeansNow) {
  EXPECT_EQ(ParseRetryAfter("Sat, 05 Nov 1994 08:49:37 GMT", kRfcDate), seconds(0));
}

TEST(RetryAfter, HugeDelaysAreHeldAndOverlongNumbersRefused) {
  const auto d = ParseRetryAfter("99999999999999999999", kRfcDate);
  EXPECT_FALSE(d);  // past 2^64: not a number we can hold
  const auto big = ParseRetryAfter("18446744073709551615", kRfcDate);
  ASSERT_TRUE(big);
  EXPECT_GT(big->count(), 0);
}

TEST(RetryAfter, RefusesGarbage) {
  for (const char* bad : {"", "soon", "-5", "1.5", "5s", "+5", "0x10"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, kRfcDate)) << bad;
  }
}

}  // namespace
}  // namespace ferry::fetch
