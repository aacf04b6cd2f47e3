#include "ferry/manifest/semver.hpp"

#include <gtest/gtest.h>

namespace ferry::manifest {
namespace {

SemVer V(std::string_view s) {
  auto v = ParseSemVer(s);
  EXPECT_TRUE(v) << s << ": " << v.error().message();
  return v ? *v : SemVer{};
}

TEST(SemVer, ParsesAndPrints) {
  EXPECT_EQ(V("1.2.3").String(), "1.2.3");
  EXPECT_EQ(V("1.0.0-rc.1+build.7").String(), "1.0.0-rc.1+build.7");
  EXPECT_EQ(V("0.0.0").major, 0u);
}

TEST(SemVer, PrecedenceFollowsTheSpec) {
  // The chain from semver.org §11.
  const char* chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                         "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                         "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                         "1.1.0",       "2.0.0",         "10.0.0"};
  for (std::size_t i = 0; i + 1 < std::size(chain); ++i) {
    EXPECT_LT(Compare(V(chain[i]), V(chain[i + 1])), 0) << chain[i] << " < " << chain[i + 1];
    EXPECT_GT(Compare(V(chain[i + 1]), V(chain[i])), 0);
  }
  EXPECT_EQ(Compare(V("1.0.0+a"), V("1.0.0+b")), 0);
}

TEST(SemVer, RejectsWhatTheSpecForbids) {
  for (const char* bad :
       {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "a.b.c", "1.2.3-", "1.2.3-01",
        "1.2.3-a..b", "1.2.3+", "1.2.3-é", "-1.2.3", "1.2.3 ", "99999999999999999999.0.0"}) {
    auto v = ParseSemVer(bad);
    EXPECT_FALSE(v) << "'" << bad << "' should be rejected";
    if (!v) {
      EXPECT_TRUE(v.error().Is(Errc::kInvalidArgument));
      EXPECT_NE(v.error().message().find("version '"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ferry::manifest
