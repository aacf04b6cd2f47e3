#include "ferry/report/outbox_reporter.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ferry/core/clock.hpp"
#include "support/temp_dir.hpp"

namespace ferry::report {
namespace {

using Json = nlohmann::json;

class OutboxReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenStateStore(dir_ / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    reporter_ = std::make_unique<OutboxReporter>(*store_);
  }

  std::vector<store::OutboxEvent> Pending() {
    auto events = store_->PendingEvents(100);
    EXPECT_TRUE(events) << events.error().message();
    return events ? *events : std::vector<store::OutboxEvent>{};
  }

  ManualClock clock_;
  testing::TempDir dir_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<OutboxReporter> reporter_;
};

TEST_F(OutboxReporterTest, AnEventWithEveryFieldCarriesThemAllInItsPayload) {
  ASSERT_TRUE(reporter_->Record(Event{.kind = "rolled-back",
                                      .app = "web",
                                      .revision = "2.0.0-ab12",
                                      .version = "2.0.0",
                                      .reason = "health check failed",
                                      .deployment = "d-7"}));
  const auto events = Pending();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "rolled-back");
  EXPECT_EQ(events[0].app, "web");
  EXPECT_EQ(Json::parse(events[0].payload), (Json{{"version", "2.0.0"},
                                                  {"revision", "2.0.0-ab12"},
                                                  {"reason", "health check failed"},
                                                  {"deployment", "d-7"}}));
}

TEST_F(OutboxReporterTest, EmptyFieldsAreLeftOutOfThePayloadButTheVersionIsAlwaysThere) {
  ASSERT_TRUE(reporter_->Record(Event{.kind = "downloading", .app = "web"}));
  ASSERT_TRUE(reporter_->Record(Event{.kind = "staging", .app = "web", .version = "2.0.0"}));
  const auto events = Pending();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Json::parse(events[0].payload), (Json{{"version", ""}}));
  EXPECT_EQ(Json::parse(events[1].payload), (Json{{"version", "2.0.0"}}));
}

TEST_F(OutboxReporterTest, TheDeploymentTravelsWithItsEventOnly) {
  ASSERT_TRUE(reporter_->Record(Event{.kind = "failed",
                                      .app = "web",
                                      .version = "2.0.0",
                                      .reason = "no space",
                                      .deployment = "d-7"}));
  ASSERT_TRUE(reporter_->Record(Event{.kind = "restarted", .app = "web", .version = "1.0.0"}));
  const auto events = Pending();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Json::parse(events[0].payload).value("deployment", ""), "d-7");
  EXPECT_FALSE(Json::parse(events[1].payload).contains("deployment"));
}

TEST_F(OutboxReporterTest, EventsAreKeptInTheOrderTheyWereRecorded) {
  for (const char* kind : {"downloading", "staging", "switching", "trial", "committed"}) {
    ASSERT_TRUE(reporter_->Record(Event{.kind = kind, .app = "web", .version = "2.0.0"}));
  }
  std::vector<std::string> kinds;
  for (const auto& e : Pending()) {
    kinds.push_back(e.kind);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"downloading", "staging", "switching", "trial",
                                             "committed"}));
}

TEST_F(OutboxReporterTest, NothingIsInFlightAtFirst) { EXPECT_TRUE(reporter_->InFlight().empty()); }

TEST_F(OutboxReporterTest, ProgressIsInFlightUntilCleared) {
  reporter_->SetProgress("web",
                         Progress{.step = "downloading", .version = "2.0.0", .bytes_total = 100});
  reporter_->SetProgress("db",
                         Progress{.step = "trial", .revision = "1.1.0-cd34", .version = "1.1.0"});
  auto in_flight = reporter_->InFlight();
  ASSERT_EQ(in_flight.size(), 2u);
  EXPECT_EQ(in_flight["web"].step, "downloading");
  EXPECT_EQ(in_flight["web"].bytes_total, 100u);
  EXPECT_EQ(in_flight["db"].revision, "1.1.0-cd34");

  reporter_->ClearProgress("web");
  in_flight = reporter_->InFlight();
  EXPECT_FALSE(in_flight.contains("web"));
  EXPECT_TRUE(in_flight.contains("db"));
}

TEST_F(OutboxReporterTest, NewProgressReplacesTheOld) {
  reporter_->SetProgress(
      "web",
      Progress{.step = "downloading", .version = "2.0.0", .bytes_done = 40, .bytes_total = 100});
  reporter_->SetProgress("web",
                         Progress{.step = "staging", .revision = "2.0.0-ab12", .version = "2.0.0"});
  const auto in_flight = reporter_->InFlight();
  ASSERT_EQ(in_flight.size(), 1u);
  EXPECT_EQ(in_flight.at("web").step, "staging");
  EXPECT_EQ(in_flight.at("web").bytes_done, 0u);
}

TEST_F(OutboxReporterTest, ClearingAnAppNotInFlightChangesNothing) {
  reporter_->SetProgress("web", Progress{.step = "staging"});
  reporter_->ClearProgress("db");
  EXPECT_EQ(reporter_->InFlight().size(), 1u);
}

TEST_F(OutboxReporterTest, ProgressIsNotAnEvent) {
  reporter_->SetProgress("web", Progress{.step = "staging"});
  EXPECT_TRUE(Pending().empty());
}

}  // namespace
}  // namespace ferry::report
