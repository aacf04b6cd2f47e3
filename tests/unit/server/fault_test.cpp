#include "ferry/httpd/fault.hpp"

#include <gtest/gtest.h>

#include "ferry/httpd/error.hpp"

namespace ferry::httpd {
namespace {

TEST(ParseFaultSpec, ReadsEveryKind) {
  auto drop = ParseFaultSpec("drop:after=1000,path=/blobs/*,first=2").value();
  EXPECT_EQ(drop.kind, FaultKind::kDrop);
  EXPECT_EQ(drop.after, 1000u);
  EXPECT_EQ(drop.path, "/blobs/*");
  EXPECT_EQ(drop.first, 2u);

  auto throttle = ParseFaultSpec("throttle:rate=32768").value();
  EXPECT_EQ(throttle.kind, FaultKind::kThrottle);
  EXPECT_EQ(throttle.rate, 32768u);
  EXPECT_EQ(throttle.path, "*");
  EXPECT_FALSE(throttle.first.has_value());

  EXPECT_EQ(ParseFaultSpec("flip:offset=0").value().offset, 0u);

  auto status = ParseFaultSpec("status:code=429,retry-after=7").value();
  EXPECT_EQ(status.code, 429u);
  EXPECT_EQ(status.retry_after, 7u);
  auto status_default = ParseFaultSpec("status").value();
  EXPECT_EQ(status_default.code, 503u);
  EXPECT_EQ(status_default.retry_after, 1u);

  EXPECT_EQ(ParseFaultSpec("ignore-range").value().kind, FaultKind::kIgnoreRange);
  EXPECT_EQ(ParseFaultSpec("content-range").value().shift, 1);
  EXPECT_EQ(ParseFaultSpec("content-range:shift=-5").value().shift, -5);
}

TEST(ParseFaultSpec, RefusesMalformedSpecsWithReason) {
  for (const char* bad : {"",
                          "explode",
                          "drop",
                          "drop:",
                          "drop:after=",
                          "drop:after=-1",
                          "drop:after=1x",
                          "drop:after=1,",
                          "drop:after=1,after=2",
                          "drop:rate=5",
                          "drop:after=1,path=",
                          "drop:after=1,first=0",
                          "throttle:rate=0",
                          "throttle",
                          "flip",
                          "status:code=200",
                          "status:code=600",
                          "status:after=1",
                          "ignore-range:after=1",
                          "content-range:shift=0",
                          "drop:after",
                          "drop:=1",
                          "drop:after=1,unknown=2"}) {
    const auto r = ParseFaultSpec(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_TRUE(r.error().Is(HttpdErrc::kBadFaultSpec)) << bad;
    EXPECT_NE(r.error().message().find("fault '"), std::string::npos) << r.error().message();
  }
}

TEST(FormatFaultSpec, RoundTrips) {
  for (const char* text : {"drop:after=1000,path=/blobs/*,first=2", "throttle:rate=32768",
                           "flip:offset=7", "status:code=429,retry-after=7", "ignore-range",
                           "ignore-range:path=/a", "content-range:shift=-3,first=1"}) {
    const FaultSpec spec = ParseFaultSpec(text).value();
    EXPECT_EQ(FormatFaultSpec(spec), text);
    EXPECT_EQ(ParseFaultSpec(FormatFaultSpec(spec)).value(), spec);
  }
}

TEST(GlobMatch, StarCrossesSlashes) {
  EXPECT_TRUE(GlobMatch("*", "/a/b"));
  EXPECT_TRUE(GlobMatch("/blobs/*", "/blobs/sha256/ab"));
  EXPECT_FALSE(GlobMatch("/blobs/*", "/targets/x.json"));
  EXPECT_TRUE(GlobMatch("/*.json", "/1.root.json"));
  EXPECT_TRUE(GlobMatch("/file?.bin", "/file1.bin"));
  EXPECT_TRUE(GlobMatch("/[ab].bin", "/b.bin"));
  EXPECT_FALSE(GlobMatch("/a", "/ab"));
}

TEST(FaultSet, FirstLimitsHowManyRequestsAFaultHits) {
  FaultSet set;
  set.Add(ParseFaultSpec("drop:after=1,first=2,path=/a").value());
  set.Add(ParseFaultSpec("throttle:rate=10").value());
  EXPECT_EQ(set.Take("/b").size(), 1u);  // only the throttle matches /b
  EXPECT_EQ(set.Take("/a").size(), 2u);
  EXPECT_EQ(set.Take("/a").size(), 2u);
  const auto third = set.Take("/a");
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].kind, FaultKind::kThrottle);
  const auto list = set.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].hits, 2u);
  EXPECT_EQ(list[1].hits, 4u);
  set.Clear();
  EXPECT_TRUE(set.Take("/a").empty());
}

}  // namespace
}  // namespace ferry::httpd
