#include "ferry/core/crashpoint.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

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

// SIGTERM lets a paused point go at once, so a test can stop ferryd exactly there.
TEST(CrashpointDeathTest, ReleaseEndsAPauseAtOnce) {
  ::setenv("FERRY_CRASHPOINT", "test.point@pause", 1);
  EXPECT_EXIT(
      {
        std::thread releaser([] {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          ReleaseCrashpointPauses();
        });
        const auto start = std::chrono::steady_clock::now();
        Crashpoint(kTestPoint);
        const auto held = std::chrono::steady_clock::now() - start;
        releaser.join();
        std::exit(held < std::chrono::milliseconds(kCrashpointPauseMs) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "crash point test.point reached: pausing");
  ::unsetenv("FERRY_CRASHPOINT");
}

// A test learns from the trace which points a run passes, and how often.
TEST(CrashpointDeathTest, TraceListsEveryPointPassed) {
  // The trace file is opened at the first point a process passes: this test's child is forked
  // from a process that passed none (death tests run first, and the others pass points only in
  // their children).
  const std::filesystem::path trace =
      std::filesystem::temp_directory_path() / ("crashpoint-trace-" + std::to_string(::getpid()));
  std::filesystem::remove(trace);
  ::setenv("FERRY_CRASHPOINT_TRACE", trace.c_str(), 1);
  EXPECT_EXIT(
      {
        Crashpoint(kTestPoint);
        Crashpoint(kTestPoint);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  ::unsetenv("FERRY_CRASHPOINT_TRACE");
  std::ifstream in(trace);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "test.point\ntest.point\n");
  std::filesystem::remove(trace);
}

TEST(Crashpoint, UnselectedPointDoesNothing) {
  Crashpoint(kTestPoint);  // FERRY_CRASHPOINT is not set in this process
  SUCCEED();
}

}  // namespace
}  // namespace ferry
