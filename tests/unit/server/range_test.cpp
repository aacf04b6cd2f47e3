#include "ferry/httpd/range.hpp"

#include <gtest/gtest.h>

#include <ostream>

namespace ferry::httpd {
namespace {

using Kind = RangeRequest::Kind;

struct Case {
  const char* header;
  std::uint64_t size;
  Kind kind;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

void PrintTo(const Case& c, std::ostream* os) { *os << '"' << c.header << "\" size " << c.size; }

class RangeParse : public ::testing::TestWithParam<Case> {};

TEST_P(RangeParse, GivesExpectedRange) {
  const Case& c = GetParam();
  const RangeRequest r = ParseRange(c.header, c.size);
  EXPECT_EQ(r.kind, c.kind) << c.header;
  if (c.kind == Kind::kPartial) {
    EXPECT_EQ(r.range.first, c.first) << c.header;
    EXPECT_EQ(r.range.length, c.length) << c.header;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RangeParse,
    ::testing::Values(
        // The three single-range forms.
        Case{"bytes=0-99", 1000, Kind::kPartial, 0, 100},
        Case{"bytes=100-", 1000, Kind::kPartial, 100, 900},
        Case{"bytes=-100", 1000, Kind::kPartial, 900, 100},
        Case{"bytes=999-999", 1000, Kind::kPartial, 999, 1},
        // The last position is clamped; a suffix longer than the file is the whole file.
        Case{"bytes=500-5000", 1000, Kind::kPartial, 500, 500},
        Case{"bytes=-5000", 1000, Kind::kPartial, 0, 1000},
        Case{"bytes=0-18446744073709551615", 10, Kind::kPartial, 0, 10},
        // Whitespace and unit case are tolerated.
        Case{" bytes = 1 - 2 ", 10, Kind::kPartial, 1, 2},
        Case{"BYTES=1-2", 10, Kind::kPartial, 1, 2},
        // Unsatisfiable: starts past the end, empty suffix, anything on an empty file.
        Case{"bytes=1000-", 1000, Kind::kUnsatisfiable},
        Case{"bytes=1000-2000", 1000, Kind::kUnsatisfiable},
        Case{"bytes=-0", 1000, Kind::kUnsatisfiable}, Case{"bytes=0-", 0, Kind::kUnsatisfiable},
        Case{"bytes=-1", 0, Kind::kUnsatisfiable},
        // Ignored (full 200): other units, malformed, reversed, several ranges, overflow.
        Case{"items=0-1", 1000, Kind::kFull}, Case{"bytes", 1000, Kind::kFull},
        Case{"bytes=", 1000, Kind::kFull}, Case{"bytes=-", 1000, Kind::kFull},
        Case{"bytes=5-1", 1000, Kind::kFull}, Case{"bytes=a-b", 1000, Kind::kFull},
        Case{"bytes=+1-2", 1000, Kind::kFull}, Case{"bytes=-+5", 1000, Kind::kFull},
        Case{"bytes=0-1,5-6", 1000, Kind::kFull},
        Case{"bytes=18446744073709551616-", 1000, Kind::kFull},
        Case{"bytes=1 2-3", 1000, Kind::kFull}));

TEST(ContentRangeValue, NamesFirstLastAndSize) {
  EXPECT_EQ(ContentRangeValue({10, 5}, 100), "bytes 10-14/100");
  EXPECT_EQ(ContentRangeValue({0, 1}, 1), "bytes 0-0/1");
}

}  // namespace
}  // namespace ferry::httpd
