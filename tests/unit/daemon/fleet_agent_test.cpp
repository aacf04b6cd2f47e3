#include "fleet_agent.hpp"

#include <gtest/gtest.h>

#include "ferry/core/fs.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/fleetclient/fleet_client.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "ferry/trust/error.hpp"
#include "support/temp_dir.hpp"

namespace ferry::daemon {
namespace {

using Json = nlohmann::json;
using fleetclient::AssignedApp;

// The fleet server as the agent sees it: answers scripted by the test, requests recorded.
struct FakeServer {
  std::optional<fleetclient::Assignment> assignment;  // nullopt: 304
  std::vector<fleetclient::DeviceEvent> events;
  std::vector<Json> inventories;
  std::vector<std::string> etags_asked;
  std::vector<std::string> tokens;
  bool fail_events = false;
  int connections_closed = 0;
};

class FakeClient final : public fleetclient::FleetClient {
 public:
  explicit FakeClient(FakeServer& s) : s_(s) {}
  Result<std::optional<fleetclient::Assignment>> GetAssignment(const std::string& etag) override {
    s_.etags_asked.push_back(etag);
    return s_.assignment;
  }
  Result<std::int64_t> PostEvents(const std::vector<fleetclient::DeviceEvent>& events) override {
    if (s_.fail_events) {
      return Fail(fleetclient::FleetClientErrc::kTransport, "connection refused");
    }
    s_.events.insert(s_.events.end(), events.begin(), events.end());
    return events.back().sequence;
  }
  Status PutInventory(const Json& inventory) override {
    s_.inventories.push_back(inventory);
    return Ok();
  }
  std::optional<std::chrono::seconds> RetryAfter() const override { return std::nullopt; }
  void CloseConnection() override { ++s_.connections_closed; }

 private:
  FakeServer& s_;
};

class FleetAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenStateStore(dir_ / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    config_.state_dir = dir_.path();
    config_.device_token_file = dir_ / "token";
    ASSERT_TRUE(fs::WriteFileAtomic(config_.device_token_file, "fdt_one\n"));
    agent_ = std::make_unique<FleetAgent>(
        *store_, *reporter_, config_, clock_,
        [this](const std::string& token) {
          server_.tokens.push_back(token);
          return std::make_unique<FakeClient>(server_);
        },
        [this](const AssignedApp& a) { queued_.push_back(a); });
  }

  // Records `version` of `app` as its committed current revision.
  void Installed(const std::string& app, const std::string& version, bool bad = false) {
    ASSERT_TRUE(store_->PutApp(app));
    store::RevisionRecord r;
    r.id = app + "-" + version;
    r.app = app;
    r.version = version;
    r.manifest_digest = "sha256:" + std::string(64, 'a');
    r.state = store::RevisionState::kCommitted;
    ASSERT_TRUE(store_->AddRevision(r));
    if (bad) {
      ASSERT_TRUE(store_->MarkRevisionBad(r.id, "health check failed"));
    } else {
      ASSERT_TRUE(store_->SetAppRevisions(app, r.id, std::nullopt));
    }
  }

  // The events of `kind` the server received, as "app version deployment: reason".
  std::vector<std::string> Sent(const std::string& kind) const {
    std::vector<std::string> out;
    for (const auto& e : server_.events) {
      if (e.kind == kind) {
        out.push_back(e.app + " " + e.version + " " + e.deployment + ": " + e.reason);
      }
    }
    return out;
  }

  void Assign(std::vector<AssignedApp> apps, const std::string& etag = "\"e1\"") {
    server_.assignment = fleetclient::Assignment{"dev-1", std::move(apps), etag};
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  config::Config config_;
  FakeServer server_;
  std::vector<AssignedApp> queued_;
  std::unique_ptr<FleetAgent> agent_;
};

const AssignedApp kWeb2{"web", "2.0.0", "d-7", false};

TEST_F(FleetAgentTest, QueuesWhatDiffersFromWhatRunsOnce) {
  Installed("web", "1.0.0");
  Installed("db", "3.0.0");
  Assign({kWeb2, {"db", "3.0.0", "d-8", false}});
  auto r = agent_->Round();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(queued_.size(), 1u);
  EXPECT_EQ(queued_[0], kWeb2);
  EXPECT_EQ((*r)["queued"], Json::array({"web 2.0.0"}));
  // Still installing: the next round does not queue it again, and sends If-None-Match.
  server_.assignment.reset();
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 1u);
  EXPECT_EQ(server_.etags_asked, (std::vector<std::string>{"", "\"e1\""}));
}

TEST_F(FleetAgentTest, ClosingTheConnectionBetweenRoundsKeepsWhatTheServerKnows) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  agent_->CloseConnection();
  EXPECT_EQ(server_.connections_closed, 1);
  // The same client asks again with its etag, and the unchanged inventory is not sent again.
  server_.assignment.reset();
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(server_.tokens.size(), 1u);
  EXPECT_EQ(server_.etags_asked, (std::vector<std::string>{"", "\"e1\""}));
  EXPECT_EQ(server_.inventories.size(), 1u);
}

TEST_F(FleetAgentTest, ARefusedReleaseIsReportedOnceAndNotRetriedBeforeItsBackoff) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  agent_->Finished(kWeb2, Fail(Errc::kFailedPrecondition, "refusing to downgrade web"));
  ASSERT_TRUE(agent_->Round());
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 1u);
  EXPECT_EQ(Sent("failed"), (std::vector<std::string>{"web 2.0.0 d-7: refusing to downgrade web"}));
  // A new deployment of the same version is a new assignment: tried again at once.
  Assign({{"web", "2.0.0", "d-9", false}}, "\"e2\"");
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 2u);
}

TEST_F(FleetAgentTest, TheBackoffOfAFailedReleaseSurvivesAFerrydRestart) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  agent_->Finished(kWeb2, Fail(Errc::kNoSpace, "no space for web 2.0.0"));
  // ferryd restarts: a new agent over the same state database.
  clock_.Advance(FleetAgent::kRetryFirst / 2);
  agent_ = std::make_unique<FleetAgent>(
      *store_, *reporter_, config_, clock_,
      [this](const std::string& token) {
        server_.tokens.push_back(token);
        return std::make_unique<FakeClient>(server_);
      },
      [this](const AssignedApp& a) { queued_.push_back(a); });
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 1u) << "not downloaded again at once after the restart";
  EXPECT_EQ(Sent("failed").size(), 1u);
  clock_.Advance(FleetAgent::kRetryFirst / 2);
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(queued_.size(), 2u);
  // The same failure again is not reported twice, restart or not.
  agent_->Finished(kWeb2, Fail(Errc::kNoSpace, "no space for web 2.0.0"));
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(Sent("failed").size(), 1u);
  // `ferry check` forgets it, in the database too.
  EXPECT_FALSE(store_->ListBackoffs()->empty());
  agent_->ResetBackoff();
  EXPECT_TRUE(store_->ListBackoffs()->empty());
}

TEST_F(FleetAgentTest, ABlobFailingItsHashIsReportedOnceAndBackedOffExponentially) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(queued_.size(), 1u);
  const auto corrupt = [] {
    return Result<engine::InstallResult>(
        Fail(fetch::FetchErrc::kDigestMismatch, "blob sha256:ab: sha256 mismatch"));
  };
  agent_->Finished(kWeb2, corrupt());
  // Every delay doubles, up to the cap; no round inside a delay downloads again.
  std::chrono::seconds delay = FleetAgent::kRetryFirst;
  for (int attempt = 1; attempt <= 8; ++attempt) {
    clock_.Advance(delay - std::chrono::seconds(1));
    ASSERT_TRUE(agent_->Round());
    ASSERT_EQ(queued_.size(), static_cast<std::size_t>(attempt)) << "attempt " << attempt;
    clock_.Advance(std::chrono::seconds(1));
    ASSERT_TRUE(agent_->Round());
    ASSERT_EQ(queued_.size(), static_cast<std::size_t>(attempt + 1)) << "attempt " << attempt;
    agent_->Finished(kWeb2, corrupt());
    delay = std::min(delay * 2, FleetAgent::kRetryMax);
  }
  EXPECT_EQ(delay, FleetAgent::kRetryMax);
  EXPECT_EQ(agent_->RetryAt(AssignmentKey(kWeb2)), clock_.Now() + FleetAgent::kRetryMax);
  // The same failure is reported once; a new reason is news.
  EXPECT_EQ(Sent("failed"),
            (std::vector<std::string>{"web 2.0.0 d-7: blob sha256:ab: sha256 mismatch"}));
  clock_.Advance(FleetAgent::kRetryMax);
  ASSERT_TRUE(agent_->Round());
  agent_->Finished(kWeb2, Fail(Errc::kNoSpace, "web 2.0.0: 80 MiB needed, 10 MiB free"));
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(Sent("failed").size(), 2u);
  EXPECT_EQ(Sent("failed").back(), "web 2.0.0 d-7: web 2.0.0: 80 MiB needed, 10 MiB free");
}

TEST_F(FleetAgentTest, ResetBackoffTriesAFailedReleaseAtTheNextRound) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  agent_->Finished(kWeb2, Fail(trust::TrustErrc::kTargetNotFound, "no target web/2.0.0.json"));
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 1u);
  agent_->ResetBackoff();
  EXPECT_FALSE(agent_->RetryAt(AssignmentKey(kWeb2)));
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 2u);
  // A success forgets the failures: a later failure starts again from the first delay.
  agent_->Finished(kWeb2, engine::InstallResult{engine::Outcome::kCommitted, "web-2", ""});
  EXPECT_FALSE(agent_->RetryAt(AssignmentKey(kWeb2)));
}

TEST_F(FleetAgentTest, RunningTheAssignedVersionIsReportedAsAlreadyInstalledOnce) {
  Installed("web", "2.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  EXPECT_TRUE(queued_.empty());
  EXPECT_EQ(Sent("already-installed"), (std::vector<std::string>{"web 2.0.0 d-7: "}));
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(Sent("already-installed").size(), 1u);
  // A revert deployment to the same version is another deployment, and gets its own answer.
  Assign({{"web", "2.0.0", "d-8", false}}, "\"e2\"");
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(Sent("already-installed"),
            (std::vector<std::string>{"web 2.0.0 d-7: ", "web 2.0.0 d-8: "}));
}

TEST_F(FleetAgentTest, AReleaseThisAgentCommittedIsNotAlsoReportedAsAlreadyInstalled) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  Installed("web", "2.0.0");
  agent_->Finished(kWeb2, engine::InstallResult{engine::Outcome::kCommitted, "web-2.0.0", ""});
  ASSERT_TRUE(agent_->Round());
  EXPECT_TRUE(Sent("already-installed").empty());
}

TEST_F(FleetAgentTest, ANetworkFailureIsRetriedAtTheNextRoundWithoutAnEvent) {
  Installed("web", "1.0.0");
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  agent_->Finished(kWeb2, Fail(fetch::FetchErrc::kTransport, "GET blob: connection reset"));
  server_.assignment.reset();  // 304: the agent keeps what it was told
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(queued_.size(), 2u);
  for (const auto& e : server_.events) {
    EXPECT_NE(e.kind, "failed");
  }
}

TEST_F(FleetAgentTest, AVersionMarkedBadHereIsNeverQueued) {
  Installed("web", "1.0.0");
  Installed("web", "2.0.0", /*bad=*/true);
  Assign({kWeb2});
  ASSERT_TRUE(agent_->Round());
  EXPECT_TRUE(queued_.empty());
  clock_.Advance(FleetAgent::kRetryMax * 2);
  ASSERT_TRUE(agent_->Round());
  EXPECT_TRUE(queued_.empty());
  EXPECT_EQ(
      Sent("failed"),
      (std::vector<std::string>{"web 2.0.0 d-7: marked bad on this device: health check failed"}));
}

TEST_F(FleetAgentTest, ADeploymentWithRetryBadTriesAVersionMarkedBadHereOnceMore) {
  Installed("web", "1.0.0");
  Installed("web", "2.0.0", /*bad=*/true);
  AssignedApp retry = kWeb2;
  retry.retry_bad = true;
  Assign({retry});
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(queued_.size(), 1u);
  EXPECT_TRUE(queued_[0].retry_bad);
  EXPECT_EQ(RetriedBy(queued_[0]), "operator (deployment d-7)");
  EXPECT_TRUE(Sent("failed").empty());
  // It failed again and was marked bad again, retried by this deployment: not once more.
  agent_->Finished(queued_[0], Fail(Errc::kFailedPrecondition, "still broken"));
  ASSERT_TRUE(store_->RetryRevision("web-2.0.0", "operator (deployment d-7) retried it after: x"));
  ASSERT_TRUE(store_->MarkRevisionBad("web-2.0.0", "health check failed"));
  queued_.clear();
  clock_.Advance(FleetAgent::kRetryMax * 2);
  ASSERT_TRUE(agent_->Round());
  EXPECT_TRUE(queued_.empty());
}

TEST_F(FleetAgentTest, EventsGoOutInOrderWithTheirFieldsAndOnlyOnce) {
  ASSERT_TRUE(reporter_->Record(
      {.kind = "downloading", .app = "web", .version = "2.0.0", .deployment = "d-7"}));
  ASSERT_TRUE(reporter_->Record({.kind = "failed",
                                 .app = "web",
                                 .version = "2.0.0",
                                 .reason = "no space",
                                 .deployment = "d-7"}));
  Assign({});
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(server_.events.size(), 2u);
  EXPECT_EQ(server_.events[0].kind, "downloading");
  EXPECT_EQ(server_.events[1].kind, "failed");
  EXPECT_LT(server_.events[0].sequence, server_.events[1].sequence);
  EXPECT_EQ(server_.events[1].deployment, "d-7");
  EXPECT_EQ(server_.events[1].reason, "no space");
  EXPECT_GT(server_.events[1].time, 0);
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(server_.events.size(), 2u) << "delivered events are not sent again";
}

TEST_F(FleetAgentTest, AnUnreachableServerKeepsEventsForLater) {
  ASSERT_TRUE(reporter_->Record(
      {.kind = "downloading", .app = "web", .version = "2.0.0", .deployment = "d-7"}));
  server_.fail_events = true;
  EXPECT_FALSE(agent_->Round());
  EXPECT_EQ(store_->PendingEvents(10)->size(), 1u);
  server_.fail_events = false;
  Assign({});
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(server_.events.size(), 1u);
  EXPECT_TRUE(store_->PendingEvents(10)->empty());
}

TEST_F(FleetAgentTest, InventoryIsSentWhenItChanges) {
  Installed("web", "1.0.0");
  Assign({});
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(server_.inventories.size(), 1u);
  EXPECT_EQ(server_.inventories[0]["apps"][0]["version"], "1.0.0");
  EXPECT_EQ(server_.inventories[0]["apps"][0]["health"], "healthy");
  EXPECT_TRUE(server_.inventories[0]["free_bytes"].is_number());
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(server_.inventories.size(), 1u);
  Installed("db", "1.0.0");
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(server_.inventories.size(), 2u);
}

TEST_F(FleetAgentTest, InventoryCarriesEachAppsSupervisionAndIsSentAgainAfterARestart) {
  Installed("web", "1.0.0");
  Json supervision{{"running", true}, {"healthy", true}, {"restarts", 0}};
  agent_->SetSupervision([&](const std::string& app) {
    EXPECT_EQ(app, "web");
    return supervision;
  });
  Assign({});
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(server_.inventories.size(), 1u);
  EXPECT_EQ(server_.inventories[0]["apps"][0]["supervision"], supervision);
  supervision["restarts"] = 1;
  supervision["last_restart_reason"] = "unhealthy";
  ASSERT_TRUE(agent_->Round());
  ASSERT_EQ(server_.inventories.size(), 2u);
  EXPECT_EQ(server_.inventories[1]["apps"][0]["supervision"]["last_restart_reason"], "unhealthy");
}

TEST_F(FleetAgentTest, ANewTokenInTheFileIsPickedUpWithoutARestart) {
  Assign({});
  ASSERT_TRUE(agent_->Round());
  ASSERT_TRUE(fs::WriteFileAtomic(config_.device_token_file, "fdt_two"));
  ASSERT_TRUE(agent_->Round());
  EXPECT_EQ(server_.tokens, (std::vector<std::string>{"fdt_one", "fdt_two"}));
  ASSERT_TRUE(fs::WriteFileAtomic(config_.device_token_file, "  \n"));
  auto r = agent_->Round();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is empty"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace ferry::daemon
