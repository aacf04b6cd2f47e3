// Byte sources: every byte arrives once and in order, errors arrive after the bytes before them.
#include "ferry/layers/byte_source.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "layer_fixture.hpp"

namespace ferry::layers::testing {
namespace {

std::string Drain(ByteSource& source, std::optional<Error>* error = nullptr) {
  std::string out;
  for (;;) {
    auto chunk = source.Next();
    if (!chunk) {
      if (error != nullptr) {
        *error = chunk.error();
      }
      return out;
    }
    if (chunk->empty()) {
      return out;
    }
    out.append(reinterpret_cast<const char*>(chunk->data()), chunk->size());
  }
}

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131) % 251);
  }
  return s;
}

TEST(ReadAheadSource, DeliversEveryByteInOrder) {
  const std::string data = Pattern(1'000'003);
  for (const std::size_t inner_chunk :
       {std::size_t{1000}, std::size_t{65536}, std::size_t{1 << 21}}) {
    MemorySource inner(Bytes(data), inner_chunk);
    ReadAheadSource source(inner, 3, 10'000);
    EXPECT_EQ(Drain(source), data) << inner_chunk;
    auto after = source.Next();
    ASSERT_TRUE(after.has_value());
    EXPECT_TRUE(after->empty());
  }
}

TEST(ReadAheadSource, ErrorComesAfterTheBytesBeforeIt) {
  const std::string data = Pattern(50'000);
  std::size_t served = 0;
  CallbackSource inner([&]() -> Result<std::span<const std::byte>> {
    if (served == data.size()) {
      return Fail(Errc::kUnavailable, "link down");
    }
    const std::size_t n = std::min<std::size_t>(7000, data.size() - served);
    served += n;
    return Bytes(data).subspan(served - n, n);
  });
  ReadAheadSource source(inner, 2, 4096);
  std::optional<Error> error;
  EXPECT_EQ(Drain(source, &error), data);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->Is(Errc::kUnavailable));
}

TEST(ReadAheadSource, DestroyedBeforeTheEnd) {
  const std::string data = Pattern(10 << 20);
  MemorySource inner(Bytes(data), 4096);
  ReadAheadSource source(inner, 2, 4096);
  auto first = source.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->size(), 4096u);
}

}  // namespace
}  // namespace ferry::layers::testing
