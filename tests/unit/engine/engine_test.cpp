#include "ferry/engine/engine.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "release_builder.hpp"
#include "support/advancing_sleeper.hpp"
#include "support/fake_runtime.hpp"
#include "support/outbox.hpp"
#include "support/temp_dir.hpp"

namespace ferry::engine {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

using testing::AdvancingSleeper;

// An exec health check; the fake runtime answers it by the version in the container id.
Json ExecCheck() {
  return Json{{"kind", "exec"}, {"command", {"/bin/check"}}, {"interval_s", 1}, {"successes", 2},
              {"failures", 3},  {"deadline_s", 20}};
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenStateStore(dir_ / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    EngineOptions options;
    options.stop_grace = 1s;
    // Mount-free, so that these tests need no root; tests/integration/engine_overlay covers the
    // overlay kind.
    options.rootfs = RootfsMode::kHardlink;
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    engine_ = std::make_unique<Engine>(Layout(dir_.path()), *store_, *reporter_, runtime_, clock_,
                                       sleeper_, options);
    runtime_.SetExecHandler([this](const std::string& id, const std::vector<std::string>&,
                                   std::chrono::milliseconds) -> Result<runtime::ExecResult> {
      const bool broken = id.find(broken_version_) != std::string::npos;
      return runtime::ExecResult{broken ? 1 : 0, false, broken ? "HTTP 500" : "ok"};
    });
    base_ = builder_.Layer({{{"bin/app", "app binary"}, {"etc/conf", "base"}}, {}});
  }

  manifest::Manifest Version(const std::string& v) {
    auto top = builder_.Layer({{{"etc/version", v}}, {}});
    return builder_.Release("web", v, {base_, top}, ExecCheck());
  }

  Result<InstallResult> Install(const manifest::Manifest& m) {
    DirBlobProvider blobs(builder_.blob_dir());
    return engine_->Install(m, manifest::SerializeManifest(m), blobs);
  }

  std::string Revision(const manifest::Manifest& m) {
    return RevisionId(m.version.String(), Sha256Digest(manifest::SerializeManifest(m)));
  }

  std::filesystem::path CurrentLink() { return dir_ / "apps" / "web" / "current"; }

  // As ferryd leaves things when it dies in the trial of `to`: an unfinished journal entry, the
  // app pointing at `to`, `to` in trial.
  void InterruptTrial(const std::string& to, const std::optional<std::string>& from) {
    store::JournalEntry e;
    e.app = "web";
    e.from_revision = from;
    e.to_revision = to;
    e.step = "switch";
    ASSERT_TRUE(store_->BeginJournal(e));
    ASSERT_TRUE(store_->SetAppRevisions("web", to, from));
    ASSERT_TRUE(fs::ReplaceSymlink(CurrentLink(), "revisions/" + to));
    ASSERT_TRUE(store_->SetRevisionState(to, store::RevisionState::kTrial));
  }

  testing::TempDir dir_;
  testing::TempDir work_;
  testing::ReleaseBuilder builder_{work_.path()};
  testing::BuiltLayer base_;
  ManualClock clock_;
  AdvancingSleeper sleeper_{clock_};
  testing::FakeRuntime runtime_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  std::unique_ptr<Engine> engine_;
  std::string broken_version_ = "no-such-version";
};

TEST_F(EngineTest, FirstInstallIsStagedStartedAndCommitted) {
  const auto v1 = Version("1.0.0");
  auto r = Install(v1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
  const std::string rev = Revision(v1);
  EXPECT_EQ(r->revision, rev);
  EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + rev);
  const auto rootfs = dir_ / "apps" / "web" / "revisions" / rev / "rootfs";
  EXPECT_EQ(*fs::ReadFile(rootfs / "etc" / "version"), "1.0.0");
  EXPECT_EQ(*fs::ReadFile(rootfs / "bin" / "app"), "app binary");
  auto container = runtime_.Get(ContainerId("web", rev));
  ASSERT_TRUE(container);
  EXPECT_EQ(container->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_EQ(container->spec.args, (std::vector<std::string>{"/bin/app"}));
  EXPECT_EQ(store_->GetRevision(rev)->state, store::RevisionState::kCommitted);
  EXPECT_EQ(store_->GetApp("web")->current_revision, rev);
  EXPECT_EQ(testing::PendingEventKinds(*store_),
            (std::vector<std::string>{"staging", "switching", "trial", "committed"}));
  auto steps = store_->ListSteps(rev);
  ASSERT_TRUE(steps);
  ASSERT_EQ(steps->size(), 3u);
  for (const auto& s : *steps) {
    EXPECT_TRUE(s.finished_at.has_value()) << s.step;
  }
  EXPECT_TRUE(store_->UnfinishedJournal()->empty());
}

// The index of the first call `call` in `calls` at or after `from`, or calls.size().
std::size_t CallIndex(const std::vector<std::string>& calls, const std::string& call,
                      std::size_t from = 0) {
  from = std::min(from, calls.size());
  return static_cast<std::size_t>(
      std::find(calls.begin() + static_cast<std::ptrdiff_t>(from), calls.end(), call) -
      calls.begin());
}

// The app is down only between the old process's end and the new one's start: the new container
// is created while the old one serves, and the old one is removed after the new one started.
TEST_F(EngineTest, ASwitchCreatesTheNewContainerBeforeTheOldOneStops) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
  const std::string old_id = ContainerId("web", Revision(v1));
  const std::string new_id = ContainerId("web", Revision(v2));
  const auto calls = runtime_.Calls();
  const std::size_t create = CallIndex(calls, "create " + new_id);
  const std::size_t stop = CallIndex(calls, "stop-process " + old_id + " 1000");
  const std::size_t start = CallIndex(calls, "start " + new_id);
  ASSERT_LT(start, calls.size()) << ::testing::PrintToString(calls);
  EXPECT_LT(create, stop) << ::testing::PrintToString(calls);
  EXPECT_LT(stop, start) << ::testing::PrintToString(calls);
  EXPECT_LT(CallIndex(calls, "delete " + old_id, stop), calls.size())
      << ::testing::PrintToString(calls);
  EXPECT_GT(CallIndex(calls, "delete " + old_id, stop), start) << ::testing::PrintToString(calls);
  EXPECT_FALSE(runtime_.Get(old_id));
}

TEST_F(EngineTest, ANewContainerThatCannotBeCreatedLeavesTheOldOneRunningUntouched) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  const std::string old_id = ContainerId("web", Revision(v1));
  runtime_.RefuseCreate(ContainerId("web", Revision(v2)));
  const std::size_t before = runtime_.Calls().size();
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kRolledBack) << r->reason;
  EXPECT_NE(r->reason.find("refused"), std::string::npos) << r->reason;
  const auto calls = runtime_.Calls();
  for (std::size_t i = before; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].find(old_id), std::string::npos)
        << "the running revision was touched: " << calls[i];
  }
  auto old = runtime_.Get(old_id);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  EXPECT_TRUE(store_->GetRevision(Revision(v2))->bad);
}

// A rollback likewise creates the good revision's container before it stops the failed one.
TEST_F(EngineTest, ARollbackCreatesTheGoodContainerBeforeTheFailedOneStops) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  broken_version_ = "2.0.0";
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->outcome, Outcome::kRolledBack) << r->reason;
  const std::string good = ContainerId("web", Revision(v1));
  const std::string failed = ContainerId("web", Revision(v2));
  auto calls = runtime_.Calls();
  // From the rollback on: the failed revision's stop.
  const std::size_t stop = CallIndex(calls, "stop-process " + failed + " 1000");
  ASSERT_LT(stop, calls.size()) << ::testing::PrintToString(calls);
  calls.erase(calls.begin(), calls.begin() + static_cast<std::ptrdiff_t>(stop));
  const std::size_t start = CallIndex(calls, "start " + good);
  ASSERT_LT(start, calls.size()) << ::testing::PrintToString(calls);
  EXPECT_LT(start, CallIndex(calls, "delete " + failed)) << ::testing::PrintToString(calls);
  // Its create came before the stop (so it is not in what is left).
  EXPECT_EQ(CallIndex(calls, "create " + good), calls.size()) << ::testing::PrintToString(calls);
  EXPECT_EQ(runtime_.Get(good)->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_FALSE(runtime_.Get(failed));
}

// The good revision's container is made during the switch, before the trial: after a failed
// trial the way back is only the failed process's stop and the standby's start.
TEST_F(EngineTest, ARollbackAfterAFailedTrialOnlyStopsTheFailedOneAndStartsTheStandby) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  broken_version_ = "2.0.0";
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->outcome, Outcome::kRolledBack) << r->reason;
  const std::string good = ContainerId("web", Revision(v1));
  const std::string failed = ContainerId("web", Revision(v2));
  const auto calls = runtime_.Calls();
  const std::size_t started = CallIndex(calls, "start " + failed);
  const std::size_t standby = CallIndex(calls, "create " + good, started);
  const std::size_t stop = CallIndex(calls, "stop-process " + failed + " 1000", started);
  ASSERT_LT(stop, calls.size()) << ::testing::PrintToString(calls);
  EXPECT_LT(standby, stop) << ::testing::PrintToString(calls);
  // Made before the trial's probes, not on the way back.
  EXPECT_LT(CallIndex(calls, "exec " + failed, standby), stop) << ::testing::PrintToString(calls);
  ASSERT_LT(stop + 1, calls.size()) << ::testing::PrintToString(calls);
  EXPECT_EQ(calls[stop + 1], "start " + good) << ::testing::PrintToString(calls);
  EXPECT_EQ(runtime_.Get(good)->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_FALSE(runtime_.Get(failed));
}

TEST_F(EngineTest, UpgradeKeepsThePreviousRevisionAndSharesLayers) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
  auto app = store_->GetApp("web");
  EXPECT_EQ(app->current_revision, Revision(v2));
  EXPECT_EQ(app->previous_revision, Revision(v1));
  EXPECT_EQ(std::filesystem::read_symlink(dir_ / "apps" / "web" / "previous"),
            "revisions/" + Revision(v1));
  EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v1))), std::nullopt) << "old one stopped";
  // The base layer is shared: three layers in all, the base referenced twice.
  auto layers = store_->ListLayers();
  ASSERT_EQ(layers->size(), 3u);
  auto base = store_->GetLayer(base_.layer.diff_id);
  EXPECT_EQ((*base)->references, 2u);
  const auto a = dir_ / "apps/web/revisions" / Revision(v1) / "rootfs/bin/app";
  const auto b = dir_ / "apps/web/revisions" / Revision(v2) / "rootfs/bin/app";
  EXPECT_TRUE(std::filesystem::equivalent(a, b)) << "a hardlink farm shares inodes";
}

TEST_F(EngineTest, ACommittedUpgradeIsOnProbationAndFailingItRollsBackLikeATrial) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  EXPECT_FALSE(store_->GetRevision(Revision(v1))->probation_until) << "nothing to go back to";
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  EXPECT_EQ(store_->GetRevision(Revision(v2))->probation_until, clock_.WallNow() + 300s);
  EXPECT_TRUE(engine_->FailProbation("web", Revision(v1), "crash loop")
                  .error()
                  .Is(Errc::kFailedPrecondition));
  ASSERT_TRUE(engine_->FailProbation("web", Revision(v2), "crash loop: ended 3 times"));
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  const auto bad = *store_->GetRevision(Revision(v2));
  EXPECT_TRUE(bad.bad);
  EXPECT_EQ(bad.state, store::RevisionState::kRolledBack);
  EXPECT_EQ(bad.reason, "probation: crash loop: ended 3 times");
  EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v1)))->state.status,
            runtime::ContainerStatus::kRunning);
  EXPECT_EQ(testing::PendingEventKinds(*store_).back(), "rolled-back");
  EXPECT_FALSE(Install(v2)) << "a revision marked bad is refused like one that failed its trial";
}

TEST_F(EngineTest, AnAppWhoseUpdateIsInFlightIsLeftToItEvenBeforeTheEngineHasIt) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  const std::string id = ContainerId("web", Revision(v2));
  runtime_.Exit(id, 1);
  // The download of the next release, reported before Install is called.
  reporter_->SetProgress("web", report::Progress{.step = "downloading", .version = "3.0.0"});
  EXPECT_TRUE(engine_->RestartCurrent("web").error().Is(Errc::kUnavailable));
  EXPECT_TRUE(
      engine_->FailProbation("web", Revision(v2), "crash loop").error().Is(Errc::kUnavailable));
  EXPECT_NE(runtime_.Get(id)->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v2));

  reporter_->ClearProgress("web");
  ASSERT_TRUE(engine_->RestartCurrent("web"));
  EXPECT_EQ(runtime_.Get(id)->state.status, runtime::ContainerStatus::kRunning);
}

TEST_F(EngineTest, TheEventsOfAnInstallNameItsDeploymentAndThoseOfARevertNone) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  DirBlobProvider blobs(builder_.blob_dir());
  InstallOptions options;
  options.deployment = "d-7";
  ASSERT_EQ(engine_->Install(v2, manifest::SerializeManifest(v2), blobs, options)->outcome,
            Outcome::kCommitted);
  ASSERT_TRUE(engine_->Revert("web", std::nullopt));
  const auto events = store_->PendingEvents(1000);
  ASSERT_TRUE(events);
  std::vector<std::string> seen;
  for (const auto& e : *events) {
    seen.push_back(e.kind + " " + Json::parse(e.payload).value("version", "") + " " +
                   Json::parse(e.payload).value("deployment", "-"));
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{
                "staging 1.0.0 -", "switching 1.0.0 -", "trial 1.0.0 -", "committed 1.0.0 -",
                "staging 2.0.0 d-7", "switching 2.0.0 d-7", "trial 2.0.0 d-7",
                "committed 2.0.0 d-7", "switching 1.0.0 -", "trial 1.0.0 -", "committed 1.0.0 -"}));
}

TEST_F(EngineTest, ARevisionRetriedOnPurposeStartsItsNewProbationWithNoEndCounted) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->CountRevision(Revision(v2), store::RevisionCounter::kProbationExits));
  }
  ASSERT_TRUE(engine_->FailProbation("web", Revision(v2), "crash loop: ended 3 times"));
  ASSERT_TRUE(engine_->RetryBad("web", "2.0.0", "technician (ferry retry)"));
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  const auto rec = *store_->GetRevision(Revision(v2));
  EXPECT_EQ(rec.probation_exits, 0u);
  EXPECT_EQ(rec.probation_until, clock_.WallNow() + 300s);
}

TEST_F(EngineTest, AfterItsProbationARevisionIsNeverRolledBackAutomatically) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  clock_.Advance(300s);
  auto st = engine_->FailProbation("web", Revision(v2), "crash loop");
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(Errc::kFailedPrecondition));
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v2));
  EXPECT_FALSE(store_->GetRevision(Revision(v2))->bad);
}

TEST_F(EngineTest, ABadReleaseIsTriedAgainOnlyOnPurposeAndTheHistorySaysWhoAsked) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  broken_version_ = "2.0.0";
  ASSERT_EQ(Install(v2)->outcome, Outcome::kRolledBack);
  broken_version_ = "no-such-version";  // fixed on the device's side (a config, a peripheral)
  EXPECT_FALSE(Install(v2));
  EXPECT_FALSE(engine_->Admissible(v2, manifest::SerializeManifest(v2)));
  EXPECT_TRUE(engine_->Admissible(v2, manifest::SerializeManifest(v2), /*retry_bad=*/true));
  EXPECT_TRUE(engine_->RetryBad("web", "3.0.0", "technician").error().Is(Errc::kNotFound));
  DirBlobProvider blobs(builder_.blob_dir());
  InstallOptions options;
  options.retry_bad_by = "technician (ferry install --retry-bad)";
  auto r = engine_->Install(v2, manifest::SerializeManifest(v2), blobs, options);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
  const auto rec = *store_->GetRevision(Revision(v2));
  EXPECT_FALSE(rec.bad);
  EXPECT_EQ(rec.state, store::RevisionState::kCommitted);
  EXPECT_EQ(rec.retried.rfind("technician (ferry install --retry-bad) retried it after: health "
                              "check failed",
                              0),
            0u)
      << rec.retried;
}

TEST_F(EngineTest, RetryLiftsTheMarkSoTheNextInstallTriesItAgain) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  broken_version_ = "2.0.0";
  ASSERT_EQ(Install(v2)->outcome, Outcome::kRolledBack);
  auto retried = engine_->RetryBad("web", "2.0.0", "technician (ferry retry)");
  ASSERT_TRUE(retried) << retried.error().message();
  EXPECT_EQ(*retried, std::vector<std::string>{Revision(v2)});
  // Still broken: rolled back and marked bad again, and the history keeps who retried it.
  ASSERT_EQ(Install(v2)->outcome, Outcome::kRolledBack);
  const auto rec = *store_->GetRevision(Revision(v2));
  EXPECT_TRUE(rec.bad);
  EXPECT_NE(rec.retried.find("technician (ferry retry)"), std::string::npos);
}

TEST_F(EngineTest, FailingHealthCheckRollsBackAndMarksTheRevisionBad) {
  const auto v1 = Version("1.0.0");
  const auto v3 = Version("3.0.0");
  broken_version_ = "3.0.0";
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  auto r = Install(v3);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_NE(r->reason.find("health check failed"), std::string::npos) << r->reason;
  const auto bad = store_->GetRevision(Revision(v3));
  EXPECT_TRUE(bad->bad);
  EXPECT_EQ(bad->state, store::RevisionState::kRolledBack);
  EXPECT_NE(bad->reason.find("HTTP 500"), std::string::npos) << bad->reason;
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + Revision(v1));
  auto running = runtime_.Get(ContainerId("web", Revision(v1)));
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v3))), std::nullopt);
  auto kinds = testing::PendingEventKinds(*store_);
  EXPECT_EQ(kinds.back(), "rolled-back");
  EXPECT_TRUE(store_->UnfinishedJournal()->empty());

  // Never retried automatically.
  auto again = Install(v3);
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().Is(Errc::kFailedPrecondition));
  EXPECT_NE(again.error().message().find("marked bad"), std::string::npos);
}

TEST_F(EngineTest, CrashingContainerFailsItsTrialAtOnce) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  runtime_.SetExecHandler([this](const std::string& id, const std::vector<std::string>&,
                                 std::chrono::milliseconds) -> Result<runtime::ExecResult> {
    if (id.find("2.0.0") != std::string::npos) {
      runtime_.Exit(id, 139);
    }
    return runtime::ExecResult{1, false, "segfault"};
  });
  const auto start = clock_.Now();
  auto r = Install(v2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_NE(r->reason.find("139"), std::string::npos) << r->reason;
  EXPECT_LT(clock_.Now() - start, 20s) << "a crash must not wait for the deadline";
}

TEST_F(EngineTest, FirstInstallThatFailsLeavesNothingRunning) {
  broken_version_ = "1.0.0";
  auto r = Install(Version("1.0.0"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  EXPECT_FALSE(store_->GetApp("web")->current_revision.has_value());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(CurrentLink())));
}

TEST_F(EngineTest, SameReleaseTwiceIsAlreadyInstalled) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  auto r = Install(v1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Outcome::kAlreadyInstalled);
  EXPECT_EQ(testing::PendingEventKinds(*store_).back(), "already-installed");
}

TEST_F(EngineTest, UnsignedDowngradeIsRefusedAndSignedOneIsInstalled) {
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  auto v1 = Version("1.0.0");
  auto refused = Install(v1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "refusing to downgrade web from 2.0.0 to 1.0.0: the release is not signed as an "
            "allowed downgrade");
  v1.downgrade = true;
  auto r = Install(v1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
}

TEST_F(EngineTest, MinFromVersionIsEnforced) {
  ASSERT_EQ(Install(Version("1.0.0"))->outcome, Outcome::kCommitted);
  auto v3 = Version("3.0.0");
  v3.min_from_version = *manifest::ParseSemVer("2.0.0");
  auto r = Install(v3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "web 3.0.0 can only be installed over 2.0.0 or newer; this device runs 1.0.0");
}

TEST_F(EngineTest, CorruptBlobFailsStagingAndLeavesTheRunningRevisionAlone) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  const auto v2 = Version("2.0.0");
  const auto blob = builder_.blob_dir() / "blobs" / "sha256" / v2.layers[1].blob.digest.substr(7);
  {
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x7f');
  }
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kFailed);
  EXPECT_NE(r->reason.find("was signed"), std::string::npos) << r->reason;
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v1)))->state.status,
            runtime::ContainerStatus::kRunning);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "apps/web/revisions" / Revision(v2)));
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "layers")) {
    EXPECT_NE(e.path().extension(), ".partial") << "staging leftovers";
  }
}

TEST_F(EngineTest, ManualRevertGoesBackToThePreviousRevision) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  auto r = engine_->Revert("web", std::nullopt);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  EXPECT_EQ(store_->GetApp("web")->previous_revision, Revision(v2));
  auto nothing = engine_->Revert("web", std::string("nope"));
  ASSERT_FALSE(nothing);
  EXPECT_TRUE(nothing.error().Is(Errc::kNotFound));
}

TEST_F(EngineTest, RecoveryRollsBackAnInterruptedTrialWithoutMarkingItBad) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  // As ferryd leaves things when it dies in the trial of v2 (after a revert to v1 went live):
  // an unfinished journal entry, the app pointing at v2, v2 in trial.
  InterruptTrial(Revision(v2), Revision(v1));

  testing::FakeRuntime after_reboot;  // a power cut emptied the runtime's state
  Engine recovered(Layout(dir_.path()), *store_, *reporter_, after_reboot, clock_, sleeper_,
                   EngineOptions{});
  ASSERT_TRUE(recovered.Recover());
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  const auto v2_record = *store_->GetRevision(Revision(v2));
  EXPECT_FALSE(v2_record.bad) << "ferryd's own stop says nothing about the revision";
  EXPECT_EQ(v2_record.state, store::RevisionState::kInterrupted);
  EXPECT_NE(v2_record.reason.find("interrupted"), std::string::npos);
  EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + Revision(v1));
  auto running = after_reboot.Get(ContainerId("web", Revision(v1)));
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_TRUE(store_->UnfinishedJournal()->empty());
  EXPECT_TRUE(recovered.Admissible(v2, manifest::SerializeManifest(v2)));
}

TEST_F(EngineTest, AnInterruptedRevertKeepsBothRevisionsToGoBackTo) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  // ferryd dies in the trial of `ferry revert` (v2 back to v1).
  store::JournalEntry e;
  e.app = "web";
  e.from_revision = Revision(v2);
  e.to_revision = Revision(v1);
  e.step = "revert";
  ASSERT_TRUE(store_->BeginJournal(e));
  ASSERT_TRUE(store_->SetAppRevisions("web", Revision(v1), Revision(v2)));
  ASSERT_TRUE(fs::ReplaceSymlink(CurrentLink(), "revisions/" + Revision(v1)));
  ASSERT_TRUE(store_->SetRevisionState(Revision(v1), store::RevisionState::kTrial));

  testing::FakeRuntime after_reboot;
  Engine recovered(Layout(dir_.path()), *store_, *reporter_, after_reboot, clock_, sleeper_,
                   EngineOptions{});
  ASSERT_TRUE(recovered.Recover());
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v2));
  EXPECT_EQ(store_->GetApp("web")->previous_revision, Revision(v1))
      << "the revision the user reverted to is still there to go back to";
  EXPECT_EQ(store_->GetRevision(Revision(v1))->state, store::RevisionState::kCommitted);
  EXPECT_FALSE(store_->GetRevision(Revision(v1))->bad);
  EXPECT_EQ(std::filesystem::read_symlink(dir_ / "apps/web/previous"), "revisions/" + Revision(v1));
  auto again = recovered.Revert("web", std::nullopt);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->outcome, Outcome::kCommitted);
}

TEST_F(EngineTest, RecoveryRemovesContainersOfRevisionsOtherThanTheCurrentOne) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  // A crash during a switch left v1's container behind, as runc keeps it across a SIGKILL.
  runtime_.AddRunning(ContainerId("web", Revision(v1)));
  ASSERT_TRUE(engine_->Recover());
  EXPECT_FALSE(runtime_.Get(ContainerId("web", Revision(v1))));
  EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v2)))->state.status,
            runtime::ContainerStatus::kRunning);
}

TEST_F(EngineTest, LayersOfAnInstallACrashCutShortAreRemovedAtRecovery) {
  ASSERT_EQ(Install(Version("1.0.0"))->outcome, Outcome::kCommitted);
  const std::string diff_id = "sha256:" + std::string(64, 'd');
  ASSERT_TRUE(store_->PutLayer(diff_id, store::LayerState::kStaging, 10));
  std::filesystem::create_directories(dir_ / "layers" / std::string(64, 'd') / "etc");
  ASSERT_TRUE(engine_->Recover());
  EXPECT_FALSE(*store_->GetLayer(diff_id));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "layers" / std::string(64, 'd')));
  EXPECT_EQ(Install(Version("1.0.1"))->outcome, Outcome::kCommitted)
      << "the layers of the running revision are kept";
}

TEST_F(EngineTest, ARevisionInterruptedMoreThanTwiceIsMarkedBad) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  for (std::uint32_t i = 1; i <= kMaxInterruptions + 1; ++i) {
    SCOPED_TRACE("interruption " + std::to_string(i));
    ASSERT_TRUE(store_->SetAppRevisions("web", Revision(v1), std::nullopt));
    if (!store_->GetRevision(Revision(v2))) {
      // Staged once; the later attempts reuse it.
      ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
      ASSERT_TRUE(store_->ResetRevisionCount(Revision(v2), store::RevisionCounter::kInterruptions));
    }
    InterruptTrial(Revision(v2), Revision(v1));
    testing::FakeRuntime after_reboot;
    Engine recovered(Layout(dir_.path()), *store_, *reporter_, after_reboot, clock_, sleeper_,
                     EngineOptions{});
    ASSERT_TRUE(recovered.Recover());
    EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
    EXPECT_EQ(store_->GetRevision(Revision(v2))->bad, i > kMaxInterruptions);
  }
  EXPECT_NE(store_->GetRevision(Revision(v2))->reason.find("interrupted 3 times"),
            std::string::npos);
}

TEST_F(EngineTest, AnInterruptedFirstInstallIsTriedAgainInsteadOfLeavingNothingRunning) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  InterruptTrial(Revision(v1), std::nullopt);

  testing::FakeRuntime after_reboot;
  Engine recovered(Layout(dir_.path()), *store_, *reporter_, after_reboot, clock_, sleeper_,
                   EngineOptions{});
  ASSERT_TRUE(recovered.Recover());
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
  EXPECT_EQ(store_->GetRevision(Revision(v1))->state, store::RevisionState::kCommitted);
  EXPECT_FALSE(store_->GetRevision(Revision(v1))->bad);
  EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + Revision(v1));
  auto running = after_reboot.Get(ContainerId("web", Revision(v1)));
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_TRUE(store_->UnfinishedJournal()->empty());
}

TEST_F(EngineTest, AStopRequestBeforeTheSwitchAbandonsTheInstallAndTheNextOneSucceeds) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  // Stopped inside the first layer, after it, and once staged: none switches.
  for (int stop_after : {1, 2, 3}) {
    SCOPED_TRACE("stop after " + std::to_string(stop_after) + " questions");
    int asked = 0;
    InstallOptions options;
    options.stop_requested = [&] { return ++asked > stop_after; };
    DirBlobProvider blobs(builder_.blob_dir());
    auto r = engine_->Install(v2, manifest::SerializeManifest(v2), blobs, options);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().Is(Errc::kCancelled)) << r.error().message();
    EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
    EXPECT_EQ(runtime_.Get(ContainerId("web", Revision(v1)))->state.status,
              runtime::ContainerStatus::kRunning);
    EXPECT_FALSE(runtime_.Get(ContainerId("web", Revision(v2))));
    EXPECT_FALSE(store_->GetRevision(Revision(v2))->bad);
    EXPECT_EQ(store_->GetRevision(Revision(v2))->state, store::RevisionState::kInterrupted);
    EXPECT_TRUE(store_->UnfinishedJournal()->empty());
    for (const auto& e : std::filesystem::directory_iterator(Layout(dir_.path()).layers())) {
      EXPECT_NE(e.path().extension(), ".partial")
          << "a layer stopped half-way was left behind: " << e.path();
    }
  }
  auto kinds = testing::PendingEventKinds(*store_);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "switching"), 1) << "only v1 switched";
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "failed"), 0);
  auto again = Install(v2);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->outcome, Outcome::kCommitted) << again->reason;
  EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v2));
}

TEST_F(EngineTest, ACurrentRevisionThatCannotStartAtThreeBootsFallsBackToThePreviousOne) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  // v2 can no longer be started (here: its bundle is damaged).
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "apps/web/revisions" / Revision(v2) / "manifest.json",
                                  "not a manifest", 0600));
  for (std::uint32_t boot = 1; boot <= kMaxStartAttempts; ++boot) {
    SCOPED_TRACE("boot " + std::to_string(boot));
    testing::FakeRuntime after_reboot;
    Engine recovered(Layout(dir_.path()), *store_, *reporter_, after_reboot, clock_, sleeper_,
                     EngineOptions{});
    ASSERT_TRUE(recovered.Recover());
    if (boot < kMaxStartAttempts) {
      EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v2));
      EXPECT_EQ(store_->GetRevision(Revision(v2))->start_attempts, boot);
      continue;
    }
    EXPECT_EQ(store_->GetApp("web")->current_revision, Revision(v1));
    EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + Revision(v1));
    auto running = after_reboot.Get(ContainerId("web", Revision(v1)));
    ASSERT_TRUE(running);
    EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
    const auto v2_record = *store_->GetRevision(Revision(v2));
    EXPECT_TRUE(v2_record.bad);
    EXPECT_EQ(v2_record.state, store::RevisionState::kRolledBack);
    EXPECT_NE(v2_record.reason.find("could not start at 3 boots"), std::string::npos)
        << v2_record.reason;
  }
  auto kinds = testing::PendingEventKinds(*store_);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "failed"), 2);
  EXPECT_EQ(kinds.back(), "rolled-back");
}

TEST_F(EngineTest, ASuccessfulBootForgetsEarlierFailedStarts) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_TRUE(store_->CountRevision(Revision(v1), store::RevisionCounter::kStartAttempts));
  ASSERT_TRUE(store_->CountRevision(Revision(v1), store::RevisionCounter::kStartAttempts));
  testing::FakeRuntime after_reboot;
  Engine recovered(Layout(dir_.path()), *store_, *reporter_, after_reboot, clock_, sleeper_,
                   EngineOptions{});
  ASSERT_TRUE(recovered.Recover());
  EXPECT_EQ(after_reboot.Get(ContainerId("web", Revision(v1)))->state.status,
            runtime::ContainerStatus::kRunning);
  EXPECT_EQ(store_->GetRevision(Revision(v1))->start_attempts, 0u);
}

TEST_F(EngineTest, RemovalsACrashInterruptedAreFinishedAtRecovery) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  const auto doomed_revision = dir_ / "apps/web/revisions/0.9.0-abcdefabcdef.deleting";
  const auto doomed_layer = dir_ / "layers" / (std::string(64, 'd') + ".deleting");
  std::filesystem::create_directories(doomed_revision / "rootfs/bin");
  std::filesystem::create_directories(doomed_layer / "bin");
  ASSERT_TRUE(fs::WriteFileAtomic(doomed_layer / "bin/busybox", "half removed"));
  ASSERT_TRUE(engine_->Recover());
  EXPECT_FALSE(std::filesystem::exists(doomed_revision));
  EXPECT_FALSE(std::filesystem::exists(doomed_layer));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "apps/web/revisions" / Revision(v1) / "rootfs"));
}

// The state a crash between the two steps of a layer's removal leaves: its record, no folder.
TEST_F(EngineTest, ALayerWhoseRemovalWasInterruptedIsUnpackedAgainWhenAReleaseNeedsIt) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  const auto base_dir = dir_ / "layers" / base_.layer.diff_id.substr(7);
  ASSERT_TRUE(std::filesystem::exists(base_dir));
  ASSERT_TRUE(fs::RenameDurable(base_dir, Layout::BeingRemoved(base_dir)));
  ASSERT_TRUE(engine_->Recover());
  const auto v2 = Version("2.0.0");
  auto r = Install(v2);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
  EXPECT_EQ(*fs::ReadFile(dir_ / "apps/web/revisions" / Revision(v2) / "rootfs/bin/app"),
            "app binary");
}

TEST_F(EngineTest, TempFilesOfInterruptedWritesAreRemovedAtRecovery) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  const auto bundle = dir_ / "apps/web/revisions" / Revision(v1);
  const std::vector<std::filesystem::path> leftovers = {
      dir_ / "apps/web/current.tmp", dir_ / "apps/web/previous.tmp",
      bundle / "config.json.tmp.1234.56789", bundle / "manifest.json.tmp.77.1",
      dir_ / "layers" / (std::string(64, 'a') + ".whiteouts.tmp.9.9")};
  ASSERT_EQ(::symlink("revisions/x", leftovers[0].c_str()), 0);
  for (std::size_t i = 1; i < leftovers.size(); ++i) {
    std::ofstream(leftovers[i]) << "partial";
  }
  ASSERT_TRUE(engine_->Recover());
  for (const auto& p : leftovers) {
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(p))) << p;
  }
  EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + Revision(v1));
  EXPECT_TRUE(std::filesystem::exists(bundle / "manifest.json"));
}

TEST_F(EngineTest, RecoveryAdoptsARunningContainerAndRestartsAMissingOne) {
  const auto v1 = Version("1.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  const auto calls_before = runtime_.Calls().size();
  ASSERT_TRUE(engine_->Recover());
  EXPECT_EQ(runtime_.Calls().size(), calls_before) << "a running container is adopted as is";

  testing::FakeRuntime empty;
  Engine after_power_cut(Layout(dir_.path()), *store_, *reporter_, empty, clock_, sleeper_,
                         EngineOptions{});
  ASSERT_TRUE(after_power_cut.Recover());
  EXPECT_EQ(empty.Get(ContainerId("web", Revision(v1)))->state.status,
            runtime::ContainerStatus::kRunning);
}

TEST_F(EngineTest, RecoveryMakesTheCurrentLinkFollowTheDatabase) {
  const auto v1 = Version("1.0.0");
  const auto v2 = Version("2.0.0");
  ASSERT_EQ(Install(v1)->outcome, Outcome::kCommitted);
  ASSERT_EQ(Install(v2)->outcome, Outcome::kCommitted);
  ASSERT_TRUE(fs::ReplaceSymlink(CurrentLink(), "revisions/" + Revision(v1)));
  ASSERT_TRUE(engine_->Recover());
  EXPECT_EQ(std::filesystem::read_symlink(CurrentLink()), "revisions/" + Revision(v2));
}

TEST_F(EngineTest, StagingLeftoversAreRemovedAtRecovery) {
  ASSERT_EQ(Install(Version("1.0.0"))->outcome, Outcome::kCommitted);
  std::filesystem::create_directories(dir_ / "apps/web/revisions/9.9.9-abc.partial/rootfs");
  std::filesystem::create_directories(dir_ / "layers" / (std::string(64, 'e') + ".partial"));
  ASSERT_TRUE(engine_->Recover());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "apps/web/revisions/9.9.9-abc.partial"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "layers" / (std::string(64, 'e') + ".partial")));
}

TEST_F(EngineTest, OldRevisionsAreCollectedButCurrentAndPreviousKept) {
  std::vector<manifest::Manifest> versions;
  for (const char* v : {"1.0.0", "2.0.0", "3.0.0", "4.0.0"}) {
    versions.push_back(Version(v));
    ASSERT_EQ(Install(versions.back())->outcome, Outcome::kCommitted);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "apps/web/revisions" / Revision(versions[0])));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "apps/web/revisions" / Revision(versions[1])));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "apps/web/revisions" / Revision(versions[2])));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "apps/web/revisions" / Revision(versions[3])));
  EXPECT_EQ(store_->ListLayers()->size(), 3u) << "base + the two kept tops";
}

TEST(SpecFromManifest, MapsTheRuntimeConfig) {
  manifest::Manifest m;
  m.app = "web";
  m.version = *manifest::ParseSemVer("1.0.0");
  m.config.entrypoint = {"/bin/busybox", "httpd"};
  m.config.cmd = {"-f"};
  m.config.user = "1000:1001";
  m.config.capabilities = {"NET_BIND_SERVICE"};
  m.config.resources.cpu_millis = 500;
  m.config.volumes = {{"data", "/var/data", false}};
  auto spec = SpecFromManifest(m, "1.0.0-abc", "/state/apps/web/revisions/1.0.0-abc/rootfs");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->args, (std::vector<std::string>{"/bin/busybox", "httpd", "-f"}));
  EXPECT_EQ(spec->uid, 1000u);
  EXPECT_EQ(spec->gid, 1001u);
  EXPECT_DOUBLE_EQ(*spec->limits.cpus, 0.5);
  EXPECT_EQ(spec->labels["io.ferry.version"], "1.0.0");
  m.config.capabilities = {"SYS_ADMIN"};
  EXPECT_FALSE(SpecFromManifest(m, "1.0.0-abc", "/rootfs")) << "outside Docker's default set";
}

TEST(RevisionId, IsStableAndSafeForContainerIds) {
  const std::string d = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(RevisionId("1.0.0+build.7", d), "1.0.0_build.7-aaaaaaaaaaaa");
  EXPECT_EQ(ContainerId("web", "1.0.0-aaaaaaaaaaaa"), "ferry.web.1.0.0-aaaaaaaaaaaa");
}

}  // namespace
}  // namespace ferry::engine
