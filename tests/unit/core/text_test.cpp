#include "ferry/core/text.hpp"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(ParseDecimal, TakesPlainDigitsThatFitIn64Bits) {
  EXPECT_EQ(ParseDecimal("0"), 0u);
  EXPECT_EQ(ParseDecimal("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "18446744073709551616", "-1", "+1", " 1", "1 ", "1a", "0x10"}) {
    EXPECT_EQ(ParseDecimal(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(TrimHttpSpace, DropsSpacesAndTabsAtBothEndsOnly) {
  EXPECT_EQ(TrimHttpSpace(" \t a b\t "), "a b");
  EXPECT_EQ(TrimHttpSpace(""), "");
  EXPECT_EQ(TrimHttpSpace(" \t"), "");
  EXPECT_EQ(TrimHttpSpace("x\r\n"), "x\r\n") << "line endings are the caller's";
}

}  // namespace
}  // namespace ferry
