#include "ferry/core/log.hpp"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(LoggingDeathTest, JournalStreamGivesPriorityPrefixWithoutTimestamp) {
  // The child's stderr is the death-test pipe; point JOURNAL_STREAM at it so it counts as journal.
  EXPECT_EXIT(
      {
        struct stat st {};
        fstat(2, &st);
        const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
        InitLogging("ferryd", "info");
        log::warn("disk almost full");
        log::error("fsync failed");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^<4>disk almost full\n<3>fsync failed\n$");
}

TEST(LoggingDeathTest, TerminalOutputHasTimeAndLevel) {
  EXPECT_EXIT(
      {
        ::unsetenv("JOURNAL_STREAM");
        InitLogging("ferryd", "info");
        log::info("started");
        log::debug("hidden at info level");
        spdlog::default_logger()->flush();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ ferryd info: started\n$");
}

TEST(Logging, StderrIsNotJournalWithoutTheVariable) {
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
}

}  // namespace
}  // namespace ferry
