#include "app_logs.hpp"

#include <gtest/gtest.h>

#include "ferry/core/fs.hpp"
#include "support/temp_dir.hpp"
#include "web_store.hpp"

namespace ferry::daemon {
namespace {

using Json = nlohmann::json;

class AppLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenWebStore(dir_ / "state.db", clock_, store_));
    ASSERT_TRUE(store_->SetAppRevisions("web", "web-2", "web-1"));
  }

  void Write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(fs::MakeDirs(layout_.logs() / "web", 0750));
    ASSERT_TRUE(fs::WriteFileAtomic(layout_.logs() / "web" / name, text));
  }

  Result<Json> Read(Json params) {
    auto request = ParseLogRequest(params);
    if (!request) {
      return Fail(request.error());
    }
    return ReadAppLogs(*store_, layout_, *request);
  }

  testing::TempDir dir_;
  engine::Layout layout_{dir_.path()};
  ManualClock clock_;
  std::unique_ptr<store::StateStore> store_;
};

TEST_F(AppLogsTest, ShowsTheLastLinesOfTheRunningRevisionAcrossARotation) {
  Write("web-2.log.1", "one\ntwo\n");
  Write("web-2.log", "three\nfour\n");
  Write("web-1.log", "old\n");
  auto r = Read({{"app", "web"}, {"lines", 3}});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["revision"], "web-2");
  EXPECT_EQ((*r)["text"], "two\nthree\nfour\n");
  EXPECT_EQ((*r)["position"], 11);
  auto old = Read({{"app", "web"}, {"revision", "web-1"}});
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_EQ((*old)["text"], "old\n");
}

TEST_F(AppLogsTest, FollowingReadsWhatCameAfterAndStartsAgainAfterARotation) {
  Write("web-2.log", "a\n");
  auto first = Read({{"app", "web"}});
  ASSERT_TRUE(first);
  const auto at = (*first)["position"].get<std::uint64_t>();
  Write("web-2.log", "a\nb\n");
  auto next = Read({{"app", "web"}, {"from", at}});
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)["text"], "b\n");
  EXPECT_EQ((*next)["position"], 4);
  Write("web-2.log", "c\n");  // rotated: shorter than where the follower was
  auto rotated = Read({{"app", "web"}, {"from", 4}});
  ASSERT_TRUE(rotated);
  EXPECT_EQ((*rotated)["text"], "c\n");
}

TEST_F(AppLogsTest, OnlyRevisionsOfTheAppNameAFile) {
  EXPECT_TRUE(Read({{"app", "web"}, {"revision", "../../state.db"}}).error().Is(Errc::kNotFound));
  EXPECT_TRUE(Read({{"app", "nope"}}).error().Is(Errc::kNotFound));
  EXPECT_TRUE(Read({{"app", "../x"}}).error().Is(Errc::kInvalidArgument));
  EXPECT_TRUE(Read({{"app", "web"}, {"lines", -1}}).error().Is(Errc::kInvalidArgument));
  // A revision without output yet has an empty log.
  auto empty = Read({{"app", "web"}});
  ASSERT_TRUE(empty);
  EXPECT_EQ((*empty)["text"], "");
}

TEST(ValidUtf8, KeepsUtf8AndReplacesEverythingElse) {
  EXPECT_EQ(ValidUtf8("plain €"), "plain €");
  EXPECT_EQ(ValidUtf8(std::string("a\xff"
                                  "b")),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ValidUtf8(std::string("\xC0\x80")), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(ValidUtf8(std::string("\xE2\x82")), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short
}

}  // namespace
}  // namespace ferry::daemon
