#include "agent/runtime/log_rotation.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ferry/core/fs.hpp"
#include "support/temp_dir.hpp"

namespace ferry::runtime {
namespace {

TEST(LogRotation, KeepsTheTailAndWritersContinueAtTheStart) {
  testing::TempDir dir;
  const auto log = dir / "r1.log";
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ASSERT_GE(fd, 0);
  std::string data;
  for (int i = 0; i < 1000; ++i) {
    data += "line " + std::to_string(i) + "\n";
  }
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));

  auto small = RotateLogIfLarge(log, 1u << 20);
  ASSERT_TRUE(small);
  EXPECT_FALSE(*small);

  auto rotated = RotateLogIfLarge(log, 100);
  ASSERT_TRUE(rotated);
  EXPECT_TRUE(*rotated);
  EXPECT_EQ(std::filesystem::file_size(log), 0u);
  auto old = fs::ReadFile(dir / "r1.log.1");
  ASSERT_TRUE(old);
  EXPECT_EQ(*old, data.substr(data.size() - 100));

  // The writer's O_APPEND fd continues at the new end, leaving no hole.
  ASSERT_EQ(::write(fd, "after\n", 6), 6);
  ::close(fd);
  EXPECT_EQ(*fs::ReadFile(log), "after\n");
}

TEST(LogRotation, MissingLogIsNotAnError) {
  testing::TempDir dir;
  auto r = RotateLogIfLarge(dir / "none.log", 10);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

}  // namespace
}  // namespace ferry::runtime
