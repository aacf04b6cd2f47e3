#include <gtest/gtest.h>

#include "ferry/store/state_store.hpp"
#include "support/temp_dir.hpp"

namespace ferry::store {
namespace {

using namespace std::chrono_literals;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenStateStore(dir_ / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }

  testing::TempDir dir_;
  ManualClock clock_{WallTime(1'700'000'000s)};
  const WallTime now_ = clock_.WallNow();
  std::unique_ptr<StateStore> store_;
};

RevisionRecord Revision(const std::string& id, const std::string& app, const std::string& version) {
  RevisionRecord r;
  r.id = id;
  r.app = app;
  r.version = version;
  r.manifest_digest = "sha256:" + std::string(64, 'a');
  r.state = RevisionState::kDownloading;
  return r;
}

TEST_F(StateStoreTest, AppsAndRevisionsRoundTrip) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->PutApp("web"));  // idempotent
  ASSERT_TRUE(store_->AddRevision(Revision("web-1", "web", "1.0.0")));
  ASSERT_TRUE(store_->AddRevision(Revision("web-2", "web", "2.0.0")));
  ASSERT_TRUE(store_->SetAppRevisions("web", "web-2", "web-1"));
  ASSERT_TRUE(store_->SetRevisionState("web-2", RevisionState::kCommitted));

  auto apps = store_->ListApps();
  ASSERT_TRUE(apps);
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].current_revision, "web-2");
  EXPECT_EQ((*apps)[0].previous_revision, "web-1");

  auto revs = store_->ListRevisions("web");
  ASSERT_TRUE(revs);
  ASSERT_EQ(revs->size(), 2u);
  EXPECT_EQ((*revs)[1].state, RevisionState::kCommitted);
  EXPECT_EQ((*revs)[1].version, "2.0.0");
}

TEST_F(StateStoreTest, RevisionOfUnknownAppIsRefused) {
  auto st = store_->AddRevision(Revision("x-1", "nope", "1"));
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(StoreErrc::kQueryFailed));
  EXPECT_NE(st.error().message().find("FOREIGN KEY"), std::string::npos) << st.error().message();
}

TEST_F(StateStoreTest, BadRevisionKeepsItsReason) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->AddRevision(Revision("web-3", "web", "3.0.0")));
  ASSERT_TRUE(store_->SetRevisionState("web-3", RevisionState::kRolledBack, "health check failed"));
  ASSERT_TRUE(store_->MarkRevisionBad("web-3", "http probe: 500 Internal Server Error"));
  auto r = store_->GetRevision("web-3");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->bad);
  EXPECT_EQ(r->state, RevisionState::kRolledBack);
  EXPECT_EQ(r->reason, "http probe: 500 Internal Server Error");
}

TEST_F(StateStoreTest, ProbationEndIsKeptAndCanBeCleared) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->AddRevision(Revision("web-3", "web", "3.0.0")));
  EXPECT_FALSE(store_->GetRevision("web-3")->probation_until);
  const WallTime until = now_ + std::chrono::seconds(300);
  ASSERT_TRUE(store_->SetProbation("web-3", until));
  EXPECT_EQ(store_->GetRevision("web-3")->probation_until, until);
  ASSERT_TRUE(store_->SetProbation("web-3", std::nullopt));
  EXPECT_FALSE(store_->GetRevision("web-3")->probation_until);
  EXPECT_TRUE(store_->SetProbation("ghost-1", until).error().Is(Errc::kNotFound));
}

TEST_F(StateStoreTest, EndsWithinProbationAreCountedAcrossAReopenAndCanBeReset) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->AddRevision(Revision("web-3", "web", "3.0.0")));
  EXPECT_EQ(store_->GetRevision("web-3")->probation_exits, 0u);
  EXPECT_EQ(*store_->CountRevision("web-3", RevisionCounter::kProbationExits), 1u);
  EXPECT_EQ(*store_->CountRevision("web-3", RevisionCounter::kProbationExits), 2u);
  store_.reset();
  auto s = OpenStateStore(dir_ / "state.db", clock_);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->GetRevision("web-3")->probation_exits, 2u);
  EXPECT_EQ((*s)->GetRevision("web-3")->interruptions, 0u);
  EXPECT_EQ(*(*s)->CountRevision("web-3", RevisionCounter::kProbationExits), 3u);
  ASSERT_TRUE((*s)->ResetRevisionCount("web-3", RevisionCounter::kProbationExits));
  EXPECT_EQ((*s)->GetRevision("web-3")->probation_exits, 0u);
}

TEST_F(StateStoreTest, ARetriedRevisionIsNoLongerBadAndSaysWhoRetriedIt) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->AddRevision(Revision("web-3", "web", "3.0.0")));
  ASSERT_TRUE(store_->MarkRevisionBad("web-3", "health check failed"));
  ASSERT_TRUE(store_->RetryRevision("web-3", "technician (ferry retry)"));
  auto r = store_->GetRevision("web-3");
  EXPECT_FALSE(r->bad);
  EXPECT_EQ(r->retried, "technician (ferry retry)");
  EXPECT_EQ(r->reason, "health check failed");
}

TEST_F(StateStoreTest, ReleaseBackoffsAreKeptUpdatedAndForgotten) {
  ReleaseBackoff b{"web@2.0.0#d-1", 1, now_ + std::chrono::seconds(30), "no space"};
  ASSERT_TRUE(store_->PutBackoff(b));
  b.failures = 2;
  b.retry_at = now_ + std::chrono::seconds(60);
  ASSERT_TRUE(store_->PutBackoff(b));
  ASSERT_TRUE(store_->PutBackoff({"db@1.0.0#d-2", 1, now_, ""}));
  auto list = store_->ListBackoffs();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].key, "web@2.0.0#d-1");
  EXPECT_EQ((*list)[1].failures, 2u);
  EXPECT_EQ((*list)[1].retry_at, now_ + std::chrono::seconds(60));
  EXPECT_EQ((*list)[1].reported, "no space");
  ASSERT_TRUE(store_->RemoveBackoff("db@1.0.0#d-2"));
  EXPECT_EQ(store_->ListBackoffs()->size(), 1u);
  ASSERT_TRUE(store_->RemoveBackoff(""));
  EXPECT_TRUE(store_->ListBackoffs()->empty());
}

TEST_F(StateStoreTest, MissingRecordsAreNotFound) {
  EXPECT_TRUE(store_->GetApp("ghost").error().Is(Errc::kNotFound));
  EXPECT_TRUE(store_->GetRevision("ghost-1").error().Is(Errc::kNotFound));
  EXPECT_TRUE(
      store_->SetRevisionState("ghost-1", RevisionState::kFailed).error().Is(Errc::kNotFound));
  EXPECT_TRUE(store_->SetAppRevisions("ghost", "a", std::nullopt).error().Is(Errc::kNotFound));
}

TEST_F(StateStoreTest, StepTimingsAreRecorded) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->AddRevision(Revision("web-1", "web", "1")));
  ASSERT_TRUE(store_->StartStep("web-1", "downloading"));
  clock_.Advance(1500ms);
  ASSERT_TRUE(store_->FinishStep("web-1", "downloading"));
  ASSERT_TRUE(store_->StartStep("web-1", "staging"));
  auto steps = store_->ListSteps("web-1");
  ASSERT_TRUE(steps);
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[0].step, "downloading");
  ASSERT_TRUE((*steps)[0].finished_at.has_value());
  EXPECT_EQ(*(*steps)[0].finished_at - (*steps)[0].started_at, 1500ms);
  EXPECT_FALSE((*steps)[1].finished_at.has_value());
}

TEST_F(StateStoreTest, LayersCountTheirReferences) {
  const std::string l1 = "sha256:" + std::string(64, '1');
  const std::string l2 = "sha256:" + std::string(64, '2');
  ASSERT_TRUE(store_->PutLayer(l1, LayerState::kComplete, 100));
  ASSERT_TRUE(store_->PutLayer(l2, LayerState::kStaging, 200));
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->AddRevision(Revision("web-1", "web", "1")));
  ASSERT_TRUE(store_->AddRevision(Revision("web-2", "web", "2")));
  ASSERT_TRUE(store_->SetRevisionLayers("web-1", {l1}));
  ASSERT_TRUE(store_->SetRevisionLayers("web-2", {l1, l2}));
  auto layer = store_->GetLayer(l1);
  ASSERT_TRUE(layer && layer->has_value());
  EXPECT_EQ((*layer)->references, 2u);
  EXPECT_EQ((*layer)->state, LayerState::kComplete);
  // A referenced layer cannot be removed: garbage collection must never break a revision.
  EXPECT_FALSE(store_->RemoveLayer(l2));
  ASSERT_TRUE(store_->SetRevisionLayers("web-2", {l1}));
  EXPECT_TRUE(store_->RemoveLayer(l2));
  auto gone = store_->GetLayer(l2);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(StateStoreTest, DownloadsRecordProgress) {
  DownloadRecord d{"sha256:" + std::string(64, 'd'), "http://x/blob", 10, 100, "\"etag\"", {}};
  ASSERT_TRUE(store_->PutDownload(d));
  d.bytes_done = 50;
  ASSERT_TRUE(store_->PutDownload(d));
  auto got = store_->GetDownload(d.digest);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->bytes_done, 50u);
  EXPECT_EQ((*got)->validator, "\"etag\"");
  ASSERT_TRUE(store_->RemoveDownload(d.digest));
  EXPECT_FALSE(store_->GetDownload(d.digest)->has_value());
}

TEST_F(StateStoreTest, JournalListsUnfinishedSteps) {
  ASSERT_TRUE(store_->PutApp("web"));
  JournalEntry e;
  e.app = "web";
  e.from_revision = "web-1";
  e.to_revision = "web-2";
  e.step = "switching";
  auto id1 = store_->BeginJournal(e);
  ASSERT_TRUE(id1);
  e.step = "trial";
  auto id2 = store_->BeginJournal(e);
  ASSERT_TRUE(id2);
  ASSERT_TRUE(store_->FinishJournal(*id1));
  auto open = store_->UnfinishedJournal();
  ASSERT_TRUE(open);
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].step, "trial");
  EXPECT_EQ((*open)[0].from_revision, "web-1");
}

TEST_F(StateStoreTest, OutboxDeliversInSequenceOrder) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->AppendEvent("downloading", "web", "{\"n\":" + std::to_string(i) + "}"));
  }
  auto pending = store_->PendingEvents(3);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_LT((*pending)[0].sequence, (*pending)[1].sequence);
  ASSERT_TRUE(store_->MarkDelivered((*pending)[2].sequence));
  auto rest = store_->PendingEvents(10);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].payload, "{\"n\":3}");
}

TEST_F(StateStoreTest, LastEventIsTheNewestOfItsKindForTheApp) {
  EXPECT_FALSE(store_->LastEvent("web", "failed").value());
  ASSERT_TRUE(store_->AppendEvent("failed", "web", "{\"n\":1}"));
  ASSERT_TRUE(store_->AppendEvent("failed", "web", "{\"n\":2}"));
  ASSERT_TRUE(store_->AppendEvent("committed", "web", "{\"n\":3}"));
  ASSERT_TRUE(store_->AppendEvent("failed", "db", "{\"n\":4}"));
  auto pending = store_->PendingEvents(10);
  ASSERT_TRUE(pending);
  ASSERT_TRUE(store_->MarkDelivered(pending->back().sequence));  // delivered events count too
  auto last = store_->LastEvent("web", "failed");
  ASSERT_TRUE(last);
  ASSERT_TRUE(*last);
  EXPECT_EQ((*last)->payload, "{\"n\":2}");
  EXPECT_EQ((*last)->kind, "failed");
  EXPECT_TRUE((*last)->delivered);
  EXPECT_FALSE(store_->LastEvent("web", "rolled-back").value());
}

TEST_F(StateStoreTest, TransactionCommitsAllOrNothing) {
  auto st = store_->InTransaction([&]() -> Status {
    if (auto s = store_->PutApp("a"); !s) {
      return s;
    }
    return Fail(Errc::kCancelled, "changed my mind");
  });
  ASSERT_FALSE(st);
  EXPECT_TRUE(store_->ListApps()->empty());
  ASSERT_TRUE(store_->InTransaction([&]() -> Status {
    if (auto s = store_->PutApp("a"); !s) {
      return s;
    }
    return store_->PutApp("b");
  }));
  EXPECT_EQ(store_->ListApps()->size(), 2u);
}

TEST_F(StateStoreTest, MetadataKeepsExactBytesAndTimeFloorOnlyRises) {
  auto& md = store_->Metadata();
  const std::string raw = std::string("{\"signed\":{}}\0\xff", 15);
  ASSERT_TRUE(md.Save("root", raw, 3, WallTime(2'000'000'000s)));
  auto got = md.Load("root");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(**got, raw);
  EXPECT_FALSE(md.Load("timestamp")->has_value());
  ASSERT_TRUE(md.Remove("root"));
  EXPECT_FALSE(md.Load("root")->has_value());
  EXPECT_TRUE(md.Remove("root"));

  EXPECT_EQ(md.TimeFloor()->time_since_epoch().count(), 0);
  ASSERT_TRUE(md.RaiseTimeFloor(WallTime(1'800'000'000s)));
  ASSERT_TRUE(md.RaiseTimeFloor(WallTime(1'000'000'000s)));
  EXPECT_EQ(*md.TimeFloor(), WallTime(1'800'000'000s));
}

TEST_F(StateStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(store_->PutApp("web"));
  ASSERT_TRUE(store_->Metadata().Save("timestamp", "ts", 7, WallTime(1s)));
  store_.reset();
  auto s = OpenStateStore(dir_ / "state.db", clock_);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->ListApps()->size(), 1u);
  EXPECT_EQ(*(*s)->Metadata().Load("timestamp").value(), "ts");
}

TEST(OpenStateStore, GarbageFileIsRefusedWithItsName) {
  testing::TempDir dir;
  {
    FILE* f = std::fopen((dir / "state.db").c_str(), "w");
    std::fputs("this is not a database, just some text that is long enough to fill a header", f);
    std::fclose(f);
  }
  const SystemClock clock;
  auto s = OpenStateStore(dir / "state.db", clock);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("state.db"), std::string::npos) << s.error().message();
}

TEST(OpenStateStore, MissingDirectoryIsAnError) {
  testing::TempDir dir;
  const SystemClock clock;
  auto s = OpenStateStore(dir / "nope" / "state.db", clock);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().Is(StoreErrc::kOpenFailed));
}

TEST(RevisionState, NamesRoundTrip) {
  for (auto s : {RevisionState::kDownloading, RevisionState::kStaging, RevisionState::kStaged,
                 RevisionState::kSwitching, RevisionState::kTrial, RevisionState::kCommitted,
                 RevisionState::kFailed, RevisionState::kRolledBack, RevisionState::kRemoved}) {
    EXPECT_EQ(RevisionStateFromString(ToString(s)), s);
  }
  EXPECT_FALSE(RevisionStateFromString("bogus").has_value());
}

}  // namespace
}  // namespace ferry::store
