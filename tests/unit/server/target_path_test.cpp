#include "ferry/httpd/target_path.hpp"

#include <gtest/gtest.h>

#include "ferry/httpd/error.hpp"

namespace ferry::httpd {
namespace {

TEST(NormalizeTargetPath, KeepsPlainPathsRelative) {
  EXPECT_EQ(NormalizeTargetPath("/targets/app.json").value(), "targets/app.json");
  EXPECT_EQ(NormalizeTargetPath("/").value(), "");
  EXPECT_EQ(NormalizeTargetPath("/a/./b/").value(), "a/b");
}

TEST(NormalizeTargetPath, DecodesPercentEscapes) {
  EXPECT_EQ(NormalizeTargetPath("/a%20b/c%2Bd").value(), "a b/c+d");
  EXPECT_EQ(NormalizeTargetPath("/a+b").value(), "a+b");
  EXPECT_EQ(NormalizeTargetPath("/%61").value(), "a");
}

TEST(NormalizeTargetPath, AbsoluteLookingPathsStayBelowRoot) {
  EXPECT_EQ(NormalizeTargetPath("//etc/passwd").value(), "etc/passwd");
  EXPECT_EQ(NormalizeTargetPath("/%2Fetc/passwd").value(), "etc/passwd");
  EXPECT_EQ(NormalizeTargetPath("/%2e/x").value(), "x");
}

TEST(NormalizeTargetPath, RefusesEverythingThatCouldEscape) {
  for (const char* bad :
       {"/../etc/passwd", "/a/../../etc/passwd", "/a/..", "/%2e%2e/etc", "/%2E%2E/etc", "/.%2e/etc",
        "/a/%2e%2e%2f%2e%2e/etc", "/..%2fetc", "/a%5c..%5cb", "/a\\b", "/x%00.json", "/%00", "/%",
        "/%4", "/%zz", "relative/path", "", "http://host/x", "*"}) {
    const auto r = NormalizeTargetPath(bad);
    ASSERT_FALSE(r.has_value()) << bad << " gave " << *r;
    EXPECT_TRUE(r.error().Is(HttpdErrc::kBadPath)) << bad;
  }
}

TEST(NormalizeTargetPath, ResultHasNoDotSegmentsOrLeadingSlash) {
  for (const char* p : {"/a/b", "///a//b//", "/./a/./b/.", "/%2F%2Fa"}) {
    const std::string r = NormalizeTargetPath(p).value();
    EXPECT_FALSE(r.starts_with('/')) << p;
    EXPECT_EQ(r.find("/./"), std::string::npos) << p;
    EXPECT_EQ(r.find("//"), std::string::npos) << p;
  }
}

TEST(PercentDecode, RefusesNulEvenUnencoded) {
  EXPECT_FALSE(PercentDecode(std::string_view("a\0b", 3)).has_value());
  EXPECT_FALSE(PercentDecode("a%00b").has_value());
  EXPECT_EQ(PercentDecode("%41%42c").value(), "ABc");
}

TEST(SplitRequestTarget, SeparatesQuery) {
  const auto s = SplitRequestTarget("/a/b?x=1&y=2");
  EXPECT_EQ(s.path, "/a/b");
  EXPECT_EQ(s.query, "x=1&y=2");
  EXPECT_EQ(SplitRequestTarget("/a").query, "");
}

}  // namespace
}  // namespace ferry::httpd
