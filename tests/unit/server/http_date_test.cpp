#include "ferry/httpd/http_date.hpp"

#include <gtest/gtest.h>

namespace ferry::httpd {
namespace {

TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(FormatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(HttpDate, ParsesWhatItFormats) {
  for (std::time_t t : {std::time_t{0}, std::time_t{784111777}, std::time_t{1'700'000'000}}) {
    EXPECT_EQ(ParseHttpDate(FormatHttpDate(t)), t);
  }
}

TEST(HttpDate, RefusesOtherFormatsAndGarbage) {
  for (const char* bad : {"", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                          "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 36 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 28:49:37 GMT"}) {
    EXPECT_FALSE(ParseHttpDate(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ferry::httpd
