#include "ferry/fleet/fleet.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "ferry/fleet/error.hpp"
#include "support/temp_dir.hpp"

namespace ferry::fleet {
namespace {

using namespace std::chrono_literals;

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override { fleet_ = Fleet::Open(dir_ / "fleet.db", clock_).value(); }

  // Adds devices dev-000 … dev-(n-1), all tagged `tag`; returns their tokens.
  std::vector<std::string> AddDevices(int n, const std::string& tag = "lab") {
    std::vector<std::string> tokens;
    for (int i = 0; i < n; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "dev-%03d", i);
      tokens.push_back(fleet_->AddDevice(id, std::vector<std::string>{tag}).value().token);
    }
    return tokens;
  }

  // Devices (of dev-000 … dev-(n-1)) whose assignment for `app` names `deployment`.
  std::vector<std::string> Assigned(int n, const std::string& app, const std::string& deployment) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "dev-%03d", i);
      const auto apps = fleet_->Assignment(id).value();
      for (const auto& a : apps) {
        if (a.app == app && a.deployment == deployment) {
          out.push_back(id);
        }
      }
    }
    return out;
  }

  void Report(const std::string& device, const std::string& kind, const std::string& app,
              const std::string& version, const std::string& reason = "") {
    auto& seq = sequences_[device];
    Event e;
    e.sequence = ++seq;
    e.kind = kind;
    e.app = app;
    e.version = version;
    e.reason = reason;
    auto ack = fleet_->RecordEvents(device, {e});
    ASSERT_TRUE(ack.has_value()) << ack.error().String();
  }

  DeploymentSpec Spec(const std::string& version, std::vector<int> phases,
                      std::optional<std::chrono::seconds> wait = std::nullopt) {
    DeploymentSpec s;
    s.app = "web";
    s.version = version;
    s.tags = {"lab"};
    s.phases = std::move(phases);
    s.phase_wait = wait;
    return s;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Fleet> fleet_;
  std::map<std::string, std::int64_t> sequences_;
};

TEST_F(FleetTest, ProvisionedTokenAuthenticatesUntilRevokedAndIsStoredOnlyHashed) {
  auto added = fleet_->AddDevice("pump-7", std::vector<std::string>{"site:north", "beta"});
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->token.size(), 4u + 64u);
  EXPECT_EQ(added->device.tags, (std::vector<std::string>{"beta", "site:north"}));
  EXPECT_EQ(fleet_->AuthenticateDevice(added->token).value(), "pump-7");
  EXPECT_TRUE(fleet_->AuthenticateDevice(added->token + "x").error().Is(FleetErrc::kUnauthorized));
  EXPECT_TRUE(fleet_->AuthenticateDevice("").error().Is(FleetErrc::kUnauthorized));

  // The token itself is nowhere in the database files.
  for (const char* name : {"fleet.db", "fleet.db-wal"}) {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(bytes.str().find(added->token.substr(4)), std::string::npos) << name;
  }

  EXPECT_TRUE(fleet_->AddDevice("pump-7", {}).error().Is(FleetErrc::kConflict));
  auto revoked = fleet_->RevokeDevice("pump-7").value();
  EXPECT_TRUE(revoked.revoked_at.has_value());
  EXPECT_TRUE(fleet_->AuthenticateDevice(added->token).error().Is(FleetErrc::kUnauthorized));
  EXPECT_TRUE(fleet_->RevokeDevice("pump-7").has_value());  // twice is fine
  EXPECT_TRUE(fleet_->RevokeDevice("nope").error().Is(FleetErrc::kNotFound));
}

TEST_F(FleetTest, StateSurvivesReopening) {
  const auto token = fleet_->AddDevice("a", std::vector<std::string>{"x"}).value().token;
  fleet_.reset();
  fleet_ = Fleet::Open(dir_ / "fleet.db", clock_).value();
  EXPECT_EQ(fleet_->AuthenticateDevice(token).value(), "a");
  EXPECT_EQ(fleet_->GetDevice("a").value().tags, std::vector<std::string>{"x"});
}

TEST(FleetOpen, RefusesANewerSchemaAndAFileThatIsNotADatabase) {
  testing::TempDir dir;
  ManualClock clock;
  {
    auto fleet = Fleet::Open(dir / "fleet.db", clock);
    ASSERT_TRUE(fleet.has_value());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "fleet.db").c_str(), &db), SQLITE_OK);
  int version = 0;
  sqlite3_exec(
      db, "PRAGMA user_version",
      [](void* out, int, char** values, char**) {
        *static_cast<int*>(out) = std::atoi(values[0]);
        return 0;
      },
      &version, nullptr);
  EXPECT_EQ(version, 4);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = Fleet::Open(dir / "fleet.db", clock);
  ASSERT_FALSE(newer.has_value());
  EXPECT_TRUE(newer.error().Is(FleetErrc::kTooNew)) << newer.error().String();

  std::ofstream(dir / "junk.db") << std::string(8192, 'x');
  auto junk = Fleet::Open(dir / "junk.db", clock);
  ASSERT_FALSE(junk.has_value());
}

TEST_F(FleetTest, TagsAreAddedAndRemoved) {
  ASSERT_TRUE(fleet_->AddDevice("a", std::vector<std::string>{"x", "y"}).has_value());
  auto d = fleet_->TagDevice("a", std::vector<std::string>{"z"}, std::vector<std::string>{"x"});
  EXPECT_EQ(d.value().tags, (std::vector<std::string>{"y", "z"}));
  EXPECT_EQ(fleet_->ListDevices("z").value().size(), 1u);
  EXPECT_TRUE(fleet_->ListDevices("x").value().empty());
  EXPECT_TRUE(fleet_->TagDevice("a", std::vector<std::string>{"bad tag"}, {})
                  .error()
                  .Is(FleetErrc::kBadRequest));
}

TEST_F(FleetTest, SqlInjectionInIdsAndTagsIsInert) {
  AddDevices(3);
  for (const char* id : {"x'; DROP TABLE devices; --", "a' OR '1'='1", "\"; DELETE FROM devices"}) {
    EXPECT_TRUE(fleet_->AddDevice(id, {}).error().Is(FleetErrc::kBadRequest)) << id;
    EXPECT_TRUE(fleet_->GetDevice(id).error().Is(FleetErrc::kNotFound)) << id;
    EXPECT_TRUE(fleet_->RevokeDevice(id).error().Is(FleetErrc::kNotFound)) << id;
    EXPECT_TRUE(fleet_->GetDeployment(id).error().Is(FleetErrc::kNotFound)) << id;
    EXPECT_TRUE(fleet_->ListDevices(std::string_view(id)).value().empty()) << id;
    EXPECT_TRUE(
        fleet_->AddDevice("ok", std::vector<std::string>{id}).error().Is(FleetErrc::kBadRequest));
  }
  EXPECT_TRUE(fleet_->ListDevices("' OR 1=1 --").value().empty());
  EXPECT_EQ(fleet_->ListDevices().value().size(), 3u);
  const auto devices = fleet_->ListDevices().value();
  for (const auto& d : devices) {
    EXPECT_FALSE(d.revoked_at.has_value()) << d.id;
  }
}

TEST_F(FleetTest, PhasesAreDeterministicCumulativeAndSized) {
  AddDevices(100);
  auto d = fleet_->CreateDeployment(Spec("2.0.0", {1, 10, 100})).value();
  EXPECT_EQ(d.id, "d-1");
  EXPECT_EQ(d.targeted, 100);
  EXPECT_EQ(d.released, 1);
  const auto phase0 = Assigned(100, "web", "d-1");
  ASSERT_EQ(phase0.size(), 1u);

  // Another server with the same devices puts the same device first: the order depends only on
  // the deployment id and device ids.
  testing::TempDir other_dir;
  auto other = Fleet::Open(other_dir / "fleet.db", clock_).value();
  for (int i = 0; i < 100; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "dev-%03d", i);
    ASSERT_TRUE(other->AddDevice(id, std::vector<std::string>{"lab"}).has_value());
  }
  ASSERT_TRUE(other->CreateDeployment(Spec("2.0.0", {1, 10, 100})).has_value());
  EXPECT_EQ(other->Assignment(phase0[0]).value().size(), 1u);

  d = fleet_->Promote("d-1").value();
  EXPECT_EQ(d.current_phase, 1);
  EXPECT_EQ(d.released, 10);
  const auto phase1 = Assigned(100, "web", "d-1");
  EXPECT_EQ(phase1.size(), 10u);
  EXPECT_NE(std::find(phase1.begin(), phase1.end(), phase0[0]), phase1.end());
  d = fleet_->Promote("d-1").value();
  EXPECT_EQ(d.released, 100);
  EXPECT_TRUE(fleet_->Promote("d-1").error().Is(FleetErrc::kConflict));
}

TEST_F(FleetTest, PhasedRolloutAdvancesAfterTheWaitOnceThePhaseIsDone) {
  AddDevices(20);
  auto d = fleet_->CreateDeployment(Spec("2.0.0", {10, 50, 100}, 10min)).value();
  ASSERT_EQ(d.released, 2);
  const auto commit_all = [&] {
    for (const auto& id : Assigned(20, "web", "d-1")) {
      Report(id, "downloading", "web", "2.0.0");
      Report(id, "committed", "web", "2.0.0");
    }
  };
  // The wait passes, but the phase is not done: no advance.
  clock_.Advance(11min);
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  EXPECT_EQ(fleet_->GetDeployment("d-1").value().current_phase, 0);
  commit_all();
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  d = fleet_->GetDeployment("d-1").value();
  EXPECT_EQ(d.current_phase, 1);
  EXPECT_EQ(d.released, 10);
  EXPECT_EQ(d.counts["committed"], 2);
  EXPECT_EQ(d.counts["pending"], 8);
  EXPECT_EQ(Assigned(20, "web", "d-1").size(), 10u);

  // Done at once, but the wait has not passed.
  commit_all();
  clock_.Advance(9min);
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  EXPECT_EQ(fleet_->GetDeployment("d-1").value().current_phase, 1);
  clock_.Advance(1min);
  // Assignment polls reconcile by themselves.
  EXPECT_EQ(Assigned(20, "web", "d-1").size(), 20u);
  EXPECT_EQ(fleet_->GetDeployment("d-1").value().current_phase, 2);
  commit_all();
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  d = fleet_->GetDeployment("d-1").value();
  EXPECT_EQ(d.state, "completed");
  EXPECT_EQ(d.counts["committed"], 20);
}

TEST_F(FleetTest, ARevokedDeviceDoesNotHoldItsPhaseBack) {
  AddDevices(4);
  ASSERT_EQ(fleet_->CreateDeployment(Spec("2.0.0", {50, 100}, 10min)).value().released, 2);
  const auto first = Assigned(4, "web", "d-1");
  ASSERT_EQ(first.size(), 2u);
  Report(first[0], "committed", "web", "2.0.0");
  ASSERT_TRUE(fleet_->RevokeDevice(first[1]).has_value());
  clock_.Advance(11min);
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  const auto d = fleet_->GetDeployment("d-1").value();
  EXPECT_EQ(d.current_phase, 1);
  EXPECT_EQ(d.released, 4);
}

TEST(FleetRetention, OldestEventsAreCompactedIntoCountsAndNeverStoredTwice) {
  testing::TempDir dir;
  ManualClock clock;
  auto fleet = Fleet::Open(dir / "fleet.db", clock, FleetOptions{8, 1 << 20}).value();
  ASSERT_TRUE(fleet->AddDevice("a", std::vector<std::string>{"lab"}).has_value());
  std::vector<Event> batch;
  for (int i = 1; i <= 20; ++i) {
    Event e;
    e.sequence = i;
    e.kind = i <= 5 ? "downloading" : "staging";
    e.app = "web";
    batch.push_back(e);
  }
  auto ack = fleet->RecordEvents("a", batch).value();
  EXPECT_EQ(ack.stored, 20);
  EXPECT_EQ(ack.highest_sequence, 20);
  const auto kept = fleet->DeviceEvents("a", 100).value();
  const auto r = fleet->DeviceEventRetention("a").value();
  EXPECT_EQ(r.kept_events, static_cast<std::int64_t>(kept.size()));
  EXPECT_LE(r.kept_events, 8);
  EXPECT_EQ(kept.back().sequence, r.compacted_through + 1);
  EXPECT_EQ(r.compacted_events + r.kept_events, 20);
  EXPECT_EQ(r.compacted_by_kind.at("downloading"), 5);
  EXPECT_EQ(r.compacted_by_kind.at("staging"), r.compacted_events - 5);
  // Sent again (a lost reply), everything is a duplicate, compacted or kept.
  ack = fleet->RecordEvents("a", batch).value();
  EXPECT_EQ(ack.stored, 0);
  EXPECT_EQ(ack.duplicates, 20);
  EXPECT_EQ(ack.highest_sequence, 20);
  EXPECT_EQ(fleet->DeviceEventRetention("a").value().compacted_events, r.compacted_events);
}

TEST_F(FleetTest, FailuresAboveTheRatioPauseAndKeepTheRestOnTheOldRelease) {
  AddDevices(20);
  auto old = Spec("1.0.0", {100});
  ASSERT_TRUE(fleet_->CreateDeployment(old).has_value());
  for (int i = 0; i < 20; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "dev-%03d", i);
    Report(id, "committed", "web", "1.0.0");
  }
  auto spec = Spec("2.0.0", {10, 100}, 1min);
  spec.max_failure_ratio = 0.4;
  auto d = fleet_->CreateDeployment(spec).value();
  ASSERT_EQ(d.released, 2);
  const auto first = Assigned(20, "web", "d-2");
  ASSERT_EQ(first.size(), 2u);
  // One of two failing is 0.5 > 0.4.
  Report(first[0], "rolled-back", "web", "2.0.0", "health check failed 3 times");
  d = fleet_->GetDeployment("d-2").value();
  EXPECT_EQ(d.state, "paused");
  EXPECT_NE(d.pause_reason.find("phase 1: 1 of 2 devices failed"), std::string::npos)
      << d.pause_reason;
  ASSERT_EQ(d.failures.size(), 1u);
  EXPECT_EQ(d.failures[0].device, first[0]);
  EXPECT_EQ(d.failures[0].state, "rolled-back");
  EXPECT_EQ(d.failures[0].reason, "health check failed 3 times");

  Report(first[1], "committed", "web", "2.0.0");
  clock_.Advance(1h);
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  EXPECT_EQ(fleet_->GetDeployment("d-2").value().current_phase, 0);
  EXPECT_TRUE(fleet_->Promote("d-2").error().Is(FleetErrc::kConflict));
  // The other 18 still run 1.0.0.
  EXPECT_EQ(Assigned(20, "web", "d-1").size(), 18u);

  // Resume accepts the phase's failures; the rollout goes on after the wait.
  d = fleet_->Resume("d-2").value();
  EXPECT_EQ(d.state, "active");
  clock_.Advance(1min);
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  EXPECT_EQ(fleet_->GetDeployment("d-2").value().current_phase, 1);
  EXPECT_EQ(Assigned(20, "web", "d-2").size(), 20u);
}

TEST_F(FleetTest, PauseAndResumeByTheOperator) {
  AddDevices(10);
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("2.0.0", {10, 100}, 0s)).has_value());
  auto d = fleet_->Pause("d-1", "looking at logs").value();
  EXPECT_EQ(d.state, "paused");
  EXPECT_EQ(d.pause_reason, "looking at logs");
  EXPECT_TRUE(fleet_->Pause("d-1", "").error().Is(FleetErrc::kConflict));
  for (const auto& id : Assigned(10, "web", "d-1")) {
    Report(id, "committed", "web", "2.0.0");
  }
  ASSERT_TRUE(fleet_->Reconcile().has_value());
  EXPECT_EQ(fleet_->GetDeployment("d-1").value().current_phase, 0);
  d = fleet_->Resume("d-1").value();
  EXPECT_EQ(d.current_phase, 1);  // the zero wait had passed and the phase was done
  EXPECT_TRUE(fleet_->Resume("d-1").error().Is(FleetErrc::kConflict));
}

TEST_F(FleetTest, AbortFallsBackToThePreviousReleaseExceptWhereCommitted) {
  AddDevices(10);
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("1.0.0", {100})).has_value());
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("2.0.0", {100})).has_value());
  Report("dev-000", "committed", "web", "2.0.0");
  Report("dev-001", "downloading", "web", "2.0.0");
  auto d = fleet_->Abort("d-2").value();
  EXPECT_EQ(d.state, "aborted");
  EXPECT_TRUE(fleet_->Abort("d-2").error().Is(FleetErrc::kConflict));
  EXPECT_TRUE(fleet_->Resume("d-2").error().Is(FleetErrc::kConflict));
  EXPECT_EQ(fleet_->Assignment("dev-000").value().at(0).version, "2.0.0");
  EXPECT_EQ(fleet_->Assignment("dev-001").value().at(0).version, "1.0.0");
  EXPECT_EQ(Assigned(10, "web", "d-1").size(), 9u);
}

TEST_F(FleetTest, RevertDeploysThePreviousVersionAsADowngrade) {
  AddDevices(10);
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("1.0.0", {100})).has_value());
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("1.5.0", {100})).has_value());
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("2.0.0", {50, 100})).has_value());
  auto r = fleet_->Revert("d-3", std::nullopt, {100}, std::nullopt, 0.1).value();
  EXPECT_EQ(r.id, "d-4");
  EXPECT_EQ(r.version, "1.5.0");
  EXPECT_TRUE(r.downgrade);
  EXPECT_EQ(r.reverts, "d-3");
  EXPECT_EQ(r.targeted, 5);  // the devices d-3 had released
  EXPECT_EQ(fleet_->GetDeployment("d-3").value().state, "aborted");
  const auto reverted = Assigned(10, "web", "d-4");
  ASSERT_EQ(reverted.size(), 5u);
  const auto a = fleet_->Assignment(reverted[0]).value().at(0);
  EXPECT_EQ(a.version, "1.5.0");
  EXPECT_TRUE(a.downgrade);

  // An explicit version must be below the reverted one.
  EXPECT_TRUE(
      fleet_->Revert("d-4", "2.0.0", {100}, std::nullopt, 0.1).error().Is(FleetErrc::kBadRequest));
  auto to_one = fleet_->Revert("d-4", "1.0.0", {100}, std::nullopt, 0.1).value();
  EXPECT_EQ(to_one.version, "1.0.0");
  // Nothing below 1.0.0 was ever deployed.
  EXPECT_TRUE(fleet_->Revert("d-1", std::nullopt, {100}, std::nullopt, 0.1)
                  .error()
                  .Is(FleetErrc::kConflict));
}

TEST_F(FleetTest, EventsAreIdempotentAndAppliedInSequenceOrder) {
  AddDevices(1);
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("2.0.0", {100})).has_value());
  const auto ev = [](std::int64_t seq, const char* kind) {
    Event e;
    e.sequence = seq;
    e.kind = kind;
    e.app = "web";
    e.version = "2.0.0";
    return e;
  };
  auto ack = fleet_->RecordEvents("dev-000", {ev(1, "downloading"), ev(2, "staging")}).value();
  EXPECT_EQ(ack.stored, 2);
  EXPECT_EQ(ack.highest_sequence, 2);
  ack = fleet_->RecordEvents("dev-000", {ev(2, "staging"), ev(5, "committed")}).value();
  EXPECT_EQ(ack.stored, 1);
  EXPECT_EQ(ack.duplicates, 1);
  EXPECT_EQ(ack.highest_sequence, 5);
  // A late, older event is stored but does not move the state back.
  ack = fleet_->RecordEvents("dev-000", {ev(4, "switching")}).value();
  EXPECT_EQ(ack.stored, 1);
  EXPECT_EQ(ack.highest_sequence, 5);
  EXPECT_EQ(fleet_->GetDeployment("d-1").value().counts["committed"], 1);
  const auto events = fleet_->DeviceEvents("dev-000", 10).value();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].sequence, 5);
  EXPECT_EQ(events[3].sequence, 1);

  // A bad batch stores nothing.
  auto bad = fleet_->RecordEvents("dev-000", {ev(6, "downloading"), ev(7, "exploded")});
  EXPECT_TRUE(bad.error().Is(FleetErrc::kBadRequest));
  EXPECT_TRUE(fleet_->RecordEvents("dev-000", {ev(8, "trial"), ev(8, "trial")})
                  .error()
                  .Is(FleetErrc::kBadRequest));
  EXPECT_TRUE(fleet_->RecordEvents("dev-000", {ev(0, "trial")}).error().Is(FleetErrc::kBadRequest));
  EXPECT_EQ(fleet_->DeviceEvents("dev-000", 10).value().size(), 4u);
}

TEST_F(FleetTest, ARestartIsStoredAndShownButMovesNoDeployment) {
  AddDevices(1);
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("2.0.0", {100})).has_value());
  Event e;
  e.sequence = 1;
  e.kind = "committed";
  e.app = "web";
  e.version = "2.0.0";
  ASSERT_TRUE(fleet_->RecordEvents("dev-000", {e}));
  e.sequence = 2;
  e.kind = "restarted";
  e.reason = "unhealthy: http check failed 3 times in a row";
  auto ack = fleet_->RecordEvents("dev-000", {e}).value();
  EXPECT_EQ(ack.stored, 1);
  EXPECT_EQ(fleet_->GetDeployment("d-1").value().counts["committed"], 1);
  const auto events = fleet_->DeviceEvents("dev-000", 10).value();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "restarted");
  EXPECT_EQ(events[0].reason, "unhealthy: http check failed 3 times in a row");
}

TEST_F(FleetTest, ADeviceCannotMoveAnotherDevicesDeployment) {
  fleet_->AddDevice("a", std::vector<std::string>{"one"}).value();
  fleet_->AddDevice("b", std::vector<std::string>{"two"}).value();
  DeploymentSpec spec = Spec("2.0.0", {100});
  spec.tags = {"two"};
  ASSERT_TRUE(fleet_->CreateDeployment(spec).has_value());
  Event e;
  e.sequence = 1;
  e.kind = "failed";
  e.app = "web";
  e.deployment = "d-1";
  EXPECT_EQ(fleet_->RecordEvents("a", {e}).value().stored, 1);
  const auto d = fleet_->GetDeployment("d-1").value();
  EXPECT_EQ(d.counts.at("failed"), 0);
  EXPECT_EQ(d.counts.at("pending"), 1);
  EXPECT_EQ(d.state, "active");
  EXPECT_TRUE(fleet_->Assignment("a").value().empty());
}

TEST_F(FleetTest, DeploymentSpecsAreValidated) {
  AddDevices(2);
  const auto bad = [&](DeploymentSpec s) {
    return fleet_->CreateDeployment(s).error().Is(FleetErrc::kBadRequest);
  };
  EXPECT_TRUE(bad(Spec("2.0", {100})));
  EXPECT_TRUE(bad(Spec("2.0.0", {50})));
  EXPECT_TRUE(bad(Spec("2.0.0", {50, 10, 100})));
  EXPECT_TRUE(bad(Spec("2.0.0", {0, 100})));
  EXPECT_TRUE(bad(Spec("2.0.0", {})));
  auto s = Spec("2.0.0", {100});
  s.app = "Web App";
  EXPECT_TRUE(bad(s));
  s = Spec("2.0.0", {100});
  s.tags = {"nobody"};
  EXPECT_TRUE(bad(s));
  s.tags = {};
  s.devices = {"ghost"};
  EXPECT_TRUE(bad(s));
  s = Spec("2.0.0", {100});
  s.max_failure_ratio = 1.5;
  EXPECT_TRUE(bad(s));
  // Revoked devices are left out.
  ASSERT_TRUE(fleet_->RevokeDevice("dev-000").has_value());
  EXPECT_EQ(fleet_->CreateDeployment(Spec("2.0.0", {100})).value().targeted, 1);
}

TEST_F(FleetTest, ABadRolloutIsNamedOnce) {
  AddDevices(1);
  auto r = fleet_->CreateDeployment(Spec("2.0.0", {50, 10, 100}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "deployment: phases: cumulative percentages, ascending, each 1 to 100");
}

TEST_F(FleetTest, AVersionTheReleaseCheckRefusesIsNeitherDeployedNorRevertedTo) {
  AddDevices(4);
  std::vector<std::string> asked;
  fleet_->SetReleaseCheck([&](const std::string& app, const std::string& version) -> Status {
    asked.push_back(app + " " + version);
    if (version == "1.5.0" || version == "3.0.0") {
      return Fail(FleetErrc::kBadRequest, app + " " + version + " is not published");
    }
    return Ok();
  });
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("1.0.0", {100})).has_value());
  auto refused = fleet_->CreateDeployment(Spec("3.0.0", {100}));
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().Is(FleetErrc::kBadRequest));
  EXPECT_EQ(refused.error().message(), "deployment: web 3.0.0 is not published");
  EXPECT_EQ(fleet_->ListDeployments().value().size(), 1u);
  ASSERT_TRUE(fleet_->CreateDeployment(Spec("2.0.0", {100})).has_value());
  EXPECT_EQ(asked, (std::vector<std::string>{"web 1.0.0", "web 3.0.0", "web 2.0.0"}));
  // A revert to an unpublished version changes nothing: the reverted deployment stays active.
  auto revert = fleet_->Revert("d-2", "1.5.0", {100}, std::nullopt, 0.1);
  ASSERT_FALSE(revert);
  EXPECT_TRUE(revert.error().Is(FleetErrc::kBadRequest));
  EXPECT_EQ(fleet_->GetDeployment("d-2").value().state, "active");
  EXPECT_EQ(fleet_->Revert("d-2", "1.0.0", {100}, std::nullopt, 0.1).value().version, "1.0.0");
}

}  // namespace
}  // namespace ferry::fleet
