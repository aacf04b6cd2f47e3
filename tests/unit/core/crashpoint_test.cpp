#include "ferry/core/crashpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ferry {
namespace {

FERRY_DEFINE_CRASHPOINT(kTestPoint, "test.point");

TEST(Crashpoint, RegisteredPointsAreListed) {
  auto names = RegisteredCrashpoints();
  EXPECT_NE(std::find(names.begin(), names.end(), "test.point"), names.end());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(CrashpointDeathTest, SelectedPointExitsAbruptlyOnTheNthPass) {
  ::setenv("FERRY_CRASHPOINT", "test.point:2", 1);
  EXPECT_EXIT(
      {
        Crashpoint(kTestPoint);
        std::fprintf(stderr, "passed once\n");
        Crashpoint(kTestPoint);
        std::fprintf(stderr, "passed twice\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(kCrashpointExitStatus), "passed once\ncrash point test.point");
  ::unsetenv("FERRY_CRASHPOINT");
}

TEST(Crashpoint, UnselectedPointDoesNothing) {
  Crashpoint(kTestPoint);  // FERRY_CRASHPOINT is not set in this process
  SUCCEED();
}

}  // namespace
}  // namespace ferry
