#include "ferry/core/memory.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/core/json_depth.hpp"
#include "support/temp_dir.hpp"

namespace ferry {
namespace {

// Resident kB of the mapping that starts at `addr`, from /proc/self/smaps.
long ResidentKb(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(addr));
  bool in = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.find('-') != std::string::npos && line.find(' ') > line.find('-') &&
        std::isxdigit(static_cast<unsigned char>(line[0]))) {
      in = line.rfind(start, 0) == 0;
    } else if (in && line.rfind("Rss:", 0) == 0) {
      return std::stol(line.substr(4));
    }
  }
  return -1;
}

TEST(ReleaseIdleMemory, DropsCleanFilePagesAndKeepsTheirContent) {
  testing::TempDir dir;
  const auto path = dir / "data";
  const std::string content(4 << 20, 'x');
  std::ofstream(path, std::ios::binary) << content;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* map = ::mmap(nullptr, content.size(), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  ASSERT_NE(map, MAP_FAILED);
  const auto* bytes = static_cast<const volatile char*>(map);
  long sum = 0;
  for (std::size_t i = 0; i < content.size(); i += 4096) {
    sum += bytes[i];
  }
  ASSERT_GT(ResidentKb(map), 3000);

  const ReleasedMemory released = ReleaseIdleMemory();
  EXPECT_GT(released.mappings, 0u);
  if (!released.paged_out) {
    ::munmap(map, content.size());
    GTEST_SKIP() << "this kernel does not take MADV_PAGEOUT";
  }
  EXPECT_LT(ResidentKb(map), 1000) << "clean file pages only this process maps are dropped";
  // They come back on use, unchanged.
  long again = 0;
  for (std::size_t i = 0; i < content.size(); i += 4096) {
    again += bytes[i];
  }
  EXPECT_EQ(again, sum);
  ::munmap(map, content.size());
}

TEST(ReleaseIdleMemory, LeavesWritableAndAnonymousMemoryAlone) {
  std::string heap(1 << 20, 'y');
  (void)ReleaseIdleMemory();
  EXPECT_EQ(heap, std::string(1 << 20, 'y'));
}

TEST(JsonNestingWithin, CountsBracketsOutsideStringsOnly) {
  EXPECT_TRUE(JsonNestingWithin("[[1]]", 2));
  EXPECT_FALSE(JsonNestingWithin("[[[1]]]", 2));
  EXPECT_TRUE(JsonNestingWithin(R"({"a": "[[[[\"[[["})", 1));
  EXPECT_FALSE(JsonNestingWithin(std::string(100, '{'), 32));
  EXPECT_TRUE(JsonNestingWithin("not json at all", 1));
}

TEST(ParseBoundedJson, RefusesOversizedAndDeepTextBeforeParsing) {
  EXPECT_EQ(ParseBoundedJson(R"({"a": [1, 2]})", JsonBounds{64, 2}).value()["a"][1], 2);
  const auto big = ParseBoundedJson(std::string(100, ' ') + "1", JsonBounds{64, 2});
  ASSERT_FALSE(big.has_value());
  EXPECT_TRUE(big.error().Is(Errc::kInvalidArgument));
  EXPECT_NE(big.error().message().find("larger than 64"), std::string::npos);
  // Deep enough to overflow a recursive parser's stack: refused by the scan.
  const auto deep = ParseBoundedJson(std::string(1'000'000, '['), JsonBounds{1u << 20, 32});
  ASSERT_FALSE(deep.has_value());
  EXPECT_NE(deep.error().message().find("nested deeper than 32"), std::string::npos);
  const auto junk = ParseBoundedJson("{nope", JsonBounds{});
  ASSERT_FALSE(junk.has_value());
  EXPECT_TRUE(junk.error().Is(Errc::kInvalidArgument));
}

// Fills 512 KiB of stack below the caller's frame, so that those pages are resident.
[[gnu::noinline]] long DeepWork() {
  volatile char buffer[512 << 10];
  for (std::size_t i = 0; i < sizeof buffer; i += 4096) {
    buffer[i] = static_cast<char>(i);
  }
  return buffer[4096];
}

// Resident pages of the calling thread's stack, from mincore.
std::size_t ResidentStackPages() {
  pthread_attr_t attr;
  ::pthread_getattr_np(::pthread_self(), &attr);
  void* low = nullptr;
  std::size_t size = 0;
  ::pthread_attr_getstack(&attr, &low, &size);
  ::pthread_attr_destroy(&attr);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in(size / page);
  if (::mincore(low, size, in.data()) != 0) {
    return 0;
  }
  std::size_t n = 0;
  for (auto v : in) {
    n += v & 1u;
  }
  return n;
}

TEST(ReleaseUnusedStack, GivesBackWhatDeepWorkLeftAndTheThreadGoesOn) {
  std::size_t before = 0;
  std::size_t after = 0;
  long again = 0;
  std::thread t([&] {
    (void)DeepWork();
    before = ResidentStackPages();
    ReleaseUnusedStack();
    after = ResidentStackPages();
    again = DeepWork();  // the stack grows there again as usual
  });
  t.join();
  EXPECT_GE(before, 128u);
  EXPECT_LT(after, before - 100) << "the pages below the frame are given back";
  EXPECT_EQ(again, 4096 % 256);
}

}  // namespace
}  // namespace ferry
