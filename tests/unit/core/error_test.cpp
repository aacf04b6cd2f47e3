#include <gtest/gtest.h>

#include "ferry/core/result.hpp"

namespace ferry {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) {
    return Fail(Errc::kInvalidArgument, "value " + std::to_string(v) + " is not positive");
  }
  return v;
}

Status UsesTry(int v) {
  FERRY_TRY_STATUS(ParsePositive(v), "checking input");
  return Ok();
}

TEST(Error, ContextIsPrefixedAtEveryHop) {
  Error e = MakeError(Errc::kUnavailable, "HTTP 503");
  Error wrapped = e.WithContext("layer sha256:ab").WithContext("update app1");
  EXPECT_EQ(wrapped.message(), "update app1: layer sha256:ab: HTTP 503");
  EXPECT_TRUE(wrapped.Is(Errc::kUnavailable));
  EXPECT_FALSE(wrapped.Is(Errc::kNotFound));
}

TEST(Error, ErrnoErrorNamesTheCallAndTheReason) {
  Error e = ErrnoError("open /nope", ENOENT);
  EXPECT_EQ(e.message(), "open /nope: No such file or directory");
  EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
}

TEST(Result, CarriesValueOrError) {
  auto good = ParsePositive(3);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 3);
  auto bad = ParsePositive(-1);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().Is(Errc::kInvalidArgument));
}

TEST(Result, TryPropagatesWithContext) {
  EXPECT_TRUE(UsesTry(1));
  auto st = UsesTry(0);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "checking input: value 0 is not positive");
}

TEST(Error, CodeMessageIsReadable) {
  EXPECT_EQ(make_error_code(Errc::kNoSpace).message(), "no space left");
  EXPECT_STREQ(make_error_code(Errc::kNoSpace).category().name(), "ferry");
}

}  // namespace
}  // namespace ferry
