// What `ferry history`, `ferry why` and the update part of `ferry status` show, from a real state
// database.
#include "views.hpp"

#include <gtest/gtest.h>

#include "status.hpp"
#include "support/temp_dir.hpp"
#include "web_store.hpp"

namespace ferry::daemon {
namespace {

using Json = nlohmann::json;

class ViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenWebStore(dir_.path() / "state.db", clock_, store_));
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<store::StateStore> store_;
};

TEST_F(ViewsTest, HistoryListsEveryRevisionOldestFirst) {
  auto h = HistoryView(*store_, Json{{"app", "web"}});
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_EQ((*h)["revisions"].size(), 2u) << h->dump(2);
  EXPECT_EQ((*h)["revisions"][0]["revision"], "web-1");
  EXPECT_EQ((*h)["revisions"][1]["version"], "2.0.0");
  EXPECT_EQ((*h)["revisions"][1]["state"], "committed");
  EXPECT_EQ((*h)["revisions"][1]["bad"], false);
  EXPECT_TRUE((*h)["revisions"][1]["retried"].is_null());
}

TEST_F(ViewsTest, AnAppNameThatIsNotOneIsRefusedByName) {
  for (const Json& params : {Json{{"app", "../etc"}}, Json{{"app", 7}}, Json::object()}) {
    auto h = HistoryView(*store_, params);
    ASSERT_FALSE(h) << params.dump();
    EXPECT_TRUE(h.error().Is(Errc::kInvalidArgument));
    EXPECT_NE(h.error().message().find("\"app\""), std::string::npos) << h.error().message();
    EXPECT_FALSE(WhyView(*store_, params));
  }
  auto unknown = HistoryView(*store_, Json{{"app", "radio"}});
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(unknown.error().Is(Errc::kNotFound));
}

TEST_F(ViewsTest, WhyIsNullUntilSomethingFails) {
  auto w = WhyView(*store_, Json{{"app", "web"}});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_TRUE((*w)["failure"].is_null()) << w->dump(2);
}

TEST_F(ViewsTest, WhyNamesARevisionMarkedBadWithItsReason) {
  ASSERT_TRUE(store_->SetRevisionState("web-2", store::RevisionState::kRolledBack));
  ASSERT_TRUE(store_->MarkRevisionBad("web-2", "health check: HTTP 500"));
  auto w = WhyView(*store_, Json{{"app", "web"}});
  ASSERT_TRUE(w) << w.error().message();
  const Json& f = (*w)["failure"];
  EXPECT_EQ(f["revision"], "web-2") << w->dump(2);
  EXPECT_EQ(f["state"], "rolled-back");
  EXPECT_EQ(f["bad"], true);
  EXPECT_EQ(f["reason"], "health check: HTTP 500");
}

TEST_F(ViewsTest, WhyShowsAReleaseThatFailedBeforeItBecameARevision) {
  // An app never installed: the failed event is all there is, and it carries its deployment.
  ASSERT_TRUE(store_->AppendEvent(
      "failed", "radio",
      Json{{"version", "1.2.0"}, {"reason", "no space"}, {"deployment", "d-4"}}.dump()));
  auto w = WhyView(*store_, Json{{"app", "radio"}});
  ASSERT_TRUE(w) << w.error().message();
  const Json& f = (*w)["failure"];
  EXPECT_TRUE(f["revision"].is_null()) << w->dump(2);
  EXPECT_EQ(f["version"], "1.2.0");
  EXPECT_EQ(f["reason"], "no space");
  EXPECT_EQ(f["deployment"], "d-4");
  // An app with neither revisions nor failures is not known.
  auto none = WhyView(*store_, Json{{"app", "mqtt"}});
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error().Is(Errc::kNotFound));
}

TEST(StatusUpdates, AFirstInstallIsListedAndAStalledDownloadHasNoSpeed) {
  Json status{{"apps", Json::array({Json{{"name", "web"}, {"update", nullptr}}})}};
  const Clock::TimePoint now{std::chrono::hours(1)};
  report::Progress moving{"downloading", "", "2.0.0", 10, 100, 5000, now - std::chrono::seconds(1)};
  report::Progress stalled{"downloading", "", "1.0.0", 10, 100, 5000, now - kStalledAfter};
  AddUpdates(status, {{"web", moving}, {"radio", stalled}}, now);
  ASSERT_EQ(status["apps"].size(), 2u) << status.dump(2);
  EXPECT_EQ(status["apps"][0]["update"]["bytes_per_second"], 5000);
  EXPECT_EQ(status["apps"][0]["update"]["version"], "2.0.0");
  EXPECT_EQ(status["apps"][1]["name"], "radio");
  EXPECT_TRUE(status["apps"][1]["current"].is_null());
  EXPECT_EQ(status["apps"][1]["update"]["bytes_per_second"], 0);
  EXPECT_EQ(status["apps"][1]["update"]["bytes_total"], 100);
}

}  // namespace
}  // namespace ferry::daemon
