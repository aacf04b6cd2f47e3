// Installing releases over the network, with everything real but the container runtime: releases
// signed by ferry-publish, served by ferry-server over loopback (with its faults), fetched with
// libcurl, verified through TUF, recorded in a real state.db and staged on disk.
#include "ferry/update/remote_installer.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "ferry/update/state_store_resume.hpp"
#include "server-mock/ferry-publish/repository.hpp"
#include "server_process.hpp"
#include "support/advancing_sleeper.hpp"
#include "support/fake_runtime.hpp"
#include "support/outbox.hpp"
#include "support/temp_dir.hpp"

namespace ferry::update {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

using testing::AdvancingSleeper;

class RemoteInstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Publish({"init", "--repo", Repo().string(), "--keys", Keys()}).exit_code, 0);
    auto s = store::OpenStateStore(state_ / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    engine::EngineOptions options;
    options.stop_grace = 1s;
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    engine_ = std::make_unique<engine::Engine>(engine::Layout(state_.path()), *store_, *reporter_,
                                               runtime_, clock_, sleeper_, options);
  }

  stdfs::path Repo() const { return work_ / "repo"; }
  std::string Keys() const { return (work_ / "keys").string(); }

  testing::RunResult Publish(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BuiltProgram("ferry-publish").string());
    return testing::Run(args);
  }

  // Publishes `version` of app "web": a 400 KB file that changes a little between versions (so
  // the next version gets a small delta) and a version file.
  void Release(const std::string& version) {
    const auto image = work_ / ("image-" + version);
    stdfs::create_directories(image / "etc");
    std::string data = testing::PatternBytes(400'000);
    data.replace(1000, version.size(), version);
    testing::WriteFile(image / "data.bin", data);
    testing::WriteFile(image / "etc" / "version", version);
    testing::WriteFile(work_ / "app.json", Json{{"entrypoint", {"/bin/app"}},
                                                {"health",
                                                 {{"kind", "exec"},
                                                  {"command", {"/bin/check"}},
                                                  {"interval_s", 1},
                                                  {"successes", 1},
                                                  {"deadline_s", 10}}}}
                                               .dump());
    auto r = Publish({"release", "--repo", Repo().string(), "--keys", Keys(), "--app", "web",
                      "--version", version, "--image", image.string(), "--app-config",
                      (work_ / "app.json").string(), "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void Serve(const std::vector<std::string>& faults = {}) {
    std::vector<std::string> args;
    for (const auto& f : faults) {
      args.insert(args.end(), {"--fault", f});
    }
    server_.reset();
    // A log per server: the port is read from its first "listening on" line.
    server_ = std::make_unique<testing::ServerProcess>(
        Repo(), args, work_ / ("server-" + std::to_string(++servers_) + ".log"));
    ASSERT_NE(server_->port(), 0);
    MakeInstaller();
  }

  void MakeInstaller() {
    fetch::CurlOptions curl;
    curl.total_timeout = 30s;
    http_ = fetch::MakeCurlHttpClient(curl);
    resume_ = MakeStateStoreResume(*store_);
    fetch::BlobFetcherOptions o;
    o.resume_store = resume_.get();
    o.backoff.base = 10ms;
    o.backoff.min = 1ms;
    o.backoff.attempts = attempts_;
    o.min_throughput = min_throughput_;
    o.min_throughput_window = 1s;
    o.sleep = [this](std::chrono::milliseconds d, const fetch::CancelToken*) {
      sleeps_.push_back(d);
    };
    o.seed = 7;
    blobs_ = fetch::MakeCurlBlobFetcher(clock_, std::move(o));
    RemoteOptions ro;
    ro.repository_url = "http://127.0.0.1:" + std::to_string(server_->port());
    ro.trusted_root = Repo() / "metadata" / "1.root.json";
    ro.limits = limits_;
    installer_ = std::make_unique<RemoteInstaller>(
        *engine_, *reporter_, *store_, engine::Layout(state_.path()), *http_, *blobs_, clock_, ro);
  }

  Result<engine::InstallResult> Install(const std::string& version) {
    if (!installer_) {
      return Fail(Errc::kFailedPrecondition, "the test's server did not start");
    }
    return installer_->Install("web", version, engine::InstallOptions{"d-1", {}, {}});
  }

  std::string CurrentVersion() {
    auto app = store_->GetApp("web");
    if (!app || !app->current_revision) {
      return "";
    }
    return store_->GetRevision(*app->current_revision)->version;
  }

  std::uint64_t BlobBytes() { return testing::BlobBytesSent(server_->Log()); }

  // The names in the layer store (layers, their whiteout lists, anything left behind).
  std::set<std::string> LayerStore() {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(state_ / "layers", ec)) {
      names.insert(e.path().filename().string());
    }
    return names;
  }

  bool Empty(const stdfs::path& dir) {
    std::error_code ec;
    return !stdfs::exists(dir, ec) || stdfs::is_empty(dir, ec);
  }

  testing::TempDir work_;
  testing::TempDir state_;
  ManualClock clock_;
  AdvancingSleeper sleeper_{clock_};
  testing::FakeRuntime runtime_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::unique_ptr<fetch::HttpClient> http_;
  std::unique_ptr<fetch::ResumeStore> resume_;
  std::unique_ptr<fetch::BlobFetcher> blobs_;
  std::unique_ptr<RemoteInstaller> installer_;
  std::vector<std::chrono::milliseconds> sleeps_;
  config::LimitsConfig limits_{.min_free_bytes = 1u << 20, .min_free_inodes = 16};
  std::uint32_t attempts_ = 8;
  int servers_ = 0;
  std::uint64_t min_throughput_ = 1;
};

TEST_F(RemoteInstallerTest, InstallsAFullLayerThenOnlyADelta) {
  Release("1.0.0");
  Release("2.0.0");
  Serve();
  auto r1 = Install("1.0.0");
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_EQ(r1->outcome, engine::Outcome::kCommitted) << r1->reason;
  const std::uint64_t full = BlobBytes();
  auto r2 = Install("2.0.0");
  ASSERT_TRUE(r2) << r2.error().message();
  EXPECT_EQ(r2->outcome, engine::Outcome::kCommitted) << r2->reason;
  const std::uint64_t delta = BlobBytes() - full;
  EXPECT_GT(full, 100'000u);
  EXPECT_LT(delta * 20, full) << "full " << full << ", delta " << delta;
  EXPECT_EQ(CurrentVersion(), "2.0.0");
  EXPECT_TRUE(Empty(state_ / "blobs" / "sha256"));
  EXPECT_TRUE(Empty(state_ / "blobs" / "partial"));
  const auto kinds = testing::PendingEventKinds(*store_);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "downloading"), 2)
      << ::testing::PrintToString(kinds);
  auto events = store_->PendingEvents(100);
  for (const auto& e : *events) {
    EXPECT_EQ(Json::parse(e.payload).value("deployment", ""), "d-1") << e.kind;
  }
}

// Faults the fetcher rides out: the install completes with the right bytes.
class SurvivableFault : public RemoteInstallerTest,
                        public ::testing::WithParamInterface<std::vector<std::string>> {};

TEST_P(SurvivableFault, TheInstallCompletes) {
  Release("1.0.0");
  Serve(GetParam());
  auto r = Install("1.0.0");
  ASSERT_TRUE(r) << r.error().message() << "\n" << server_->Log();
  EXPECT_EQ(r->outcome, engine::Outcome::kCommitted) << r->reason;
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(*fs::ReadFile(state_ / "apps/web/current/rootfs/etc/version"), "1.0.0");
  EXPECT_FALSE(sleeps_.empty()) << "the fault should have cost at least one retry";
}

INSTANTIATE_TEST_SUITE_P(
    Faults, SurvivableFault,
    ::testing::Values(
        // A connection dropped mid-blob resumes with Range.
        std::vector<std::string>{"drop:after=50000,path=/blobs/*,first=1"},
        // A server that ignores Range after a drop: the whole blob again, nothing spliced.
        std::vector<std::string>{"drop:after=50000,path=/blobs/*,first=1",
                                 "ignore-range:path=/blobs/*"},
        // A wrong Content-Range after a drop: refused, started over.
        std::vector<std::string>{"drop:after=50000,path=/blobs/*,first=1",
                                 "content-range:shift=-100,path=/blobs/*"},
        // 503 and 429 with Retry-After on metadata and blobs.
        std::vector<std::string>{"status:code=503,retry-after=1,path=/blobs/*,first=2"},
        std::vector<std::string>{"status:code=429,retry-after=1,path=/blobs/*,first=1"}));

TEST_F(RemoteInstallerTest, ACorruptBlobIsRefusedAndTheRunningRevisionStays) {
  Release("1.0.0");
  Release("2.0.0");
  Serve();
  ASSERT_TRUE(Install("1.0.0"));
  const std::set<std::string> layers_before = LayerStore();
  const std::size_t layer_records_before = store_->ListLayers().value().size();
  Serve({"flip:offset=10,path=/blobs/*"});
  auto r = Install("2.0.0");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(fetch::FetchErrc::kDigestMismatch)) << r.error().message();
  EXPECT_NE(r.error().message().find("web 2.0.0: blob sha256:"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_FALSE(stdfs::exists(state_ / "apps/web/revisions" / "2.0.0"));
  EXPECT_TRUE(Empty(state_ / "blobs" / "partial")) << "the bad bytes are discarded";
  // The full layer was being unpacked as it arrived: nothing of it is left or recorded.
  EXPECT_EQ(LayerStore(), layers_before);
  auto records = store_->ListLayers();
  ASSERT_TRUE(records);
  EXPECT_EQ(records->size(), layer_records_before);
  auto running = runtime_.Get(engine::ContainerId("web", *store_->GetApp("web")->current_revision));
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
}

TEST_F(RemoteInstallerTest, ALayerWithMoreEntriesThanItsSignedManifestDeclaresIsRefused) {
  Release("1.0.0");
  Release("2.0.0");
  {
    // Signed as declaring one entry fewer than the layer holds (a publisher bug, or a layer
    // swapped under a manifest that kept its figures).
    auto repo = publish::Repository::Open(Repo(), Keys(), publish::Repository::Access::kWrite);
    ASSERT_TRUE(repo) << repo.error().message();
    std::vector<publish::Release> releases = repo->Releases("web");
    ASSERT_EQ(releases.size(), 2u);
    auto bytes = fs::ReadFile(releases.back().file);
    ASSERT_TRUE(bytes);
    auto m = manifest::ParseManifest(*bytes);
    ASSERT_TRUE(m) << m.error().message();
    ASSERT_TRUE(m->layers.back().entries.has_value()) << "ferry-publish declares entries";
    m->layers.back().entries = *m->layers.back().entries - 1;
    trust::Json::Object custom;
    custom.emplace_back("app", trust::Json("web"));
    custom.emplace_back("version", trust::Json("2.0.0"));
    ASSERT_TRUE(repo->AddTarget(releases.back().target, manifest::SerializeManifest(*m),
                                trust::Json(std::move(custom))));
    ASSERT_TRUE(repo->Commit(true));
  }
  Serve();
  ASSERT_TRUE(Install("1.0.0"));
  auto r = Install("2.0.0");
  const std::string why = r ? r->reason : r.error().message();
  EXPECT_TRUE(!r || r->outcome == engine::Outcome::kFailed) << "version 2.0.0 was installed";
  EXPECT_NE(why.find("the layer has more entries than the"), std::string::npos) << why;
  EXPECT_NE(why.find("its manifest declares"), std::string::npos) << why;
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto running = runtime_.Get(engine::ContainerId("web", *store_->GetApp("web")->current_revision));
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
  for (const auto& e : stdfs::directory_iterator(state_ / "layers")) {
    EXPECT_NE(e.path().extension(), ".partial") << "left behind: " << e.path();
  }
}

TEST_F(RemoteInstallerTest, AStalledServerTimesOutAndNothingChanges) {
  Release("1.0.0");
  min_throughput_ = 50'000;
  attempts_ = 2;
  Serve({"throttle:rate=200,path=/blobs/*"});
  auto r = Install("1.0.0");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(fetch::FetchErrc::kTimeout)) << r.error().message();
  EXPECT_EQ(CurrentVersion(), "");
}

TEST_F(RemoteInstallerTest, NotEnoughSpaceIsRefusedBeforeDownloading) {
  Release("1.0.0");
  limits_.min_free_bytes = std::uint64_t{1} << 60;
  Serve();
  auto r = Install("1.0.0");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(Errc::kNoSpace)) << r.error().message();
  EXPECT_NE(r.error().message().find("web 1.0.0"), std::string::npos) << r.error().message();
  EXPECT_EQ(BlobBytes(), 0u);
}

TEST_F(RemoteInstallerTest, AMissingDeltaFallsBackToTheFullLayer) {
  Release("1.0.0");
  Release("2.0.0");
  Serve();
  ASSERT_TRUE(Install("1.0.0"));
  // Remove every delta the repository has (they are the small blobs).
  for (const auto& e : stdfs::directory_iterator(Repo() / "blobs" / "sha256")) {
    if (stdfs::file_size(e.path()) < 50'000) {
      stdfs::remove(e.path());
    }
  }
  auto r = Install("2.0.0");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, engine::Outcome::kCommitted) << r->reason;
  EXPECT_EQ(CurrentVersion(), "2.0.0");
}

TEST_F(RemoteInstallerTest, AnUnsignedDowngradeIsRefusedBeforeAnyBlob) {
  Release("1.0.0");
  Release("2.0.0");
  Serve();
  ASSERT_TRUE(Install("2.0.0"));
  const std::uint64_t before = BlobBytes();
  auto r = Install("1.0.0");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(Errc::kFailedPrecondition)) << r.error().message();
  EXPECT_NE(r.error().message().find("downgrade"), std::string::npos) << r.error().message();
  EXPECT_EQ(BlobBytes(), before);
  EXPECT_EQ(CurrentVersion(), "2.0.0");
}

TEST_F(RemoteInstallerTest, AVersionTheRepositoryDoesNotSignIsNotFound) {
  Release("1.0.0");
  Serve();
  auto r = Install("1.0.1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("web/1.0.1.json"), std::string::npos) << r.error().message();
  EXPECT_EQ(BlobBytes(), 0u);
}

// After a crash or power cut ferryd keeps what the next attempt goes on from (complete blobs, and
// partial downloads with a resume record) and removes the rest.
TEST_F(RemoteInstallerTest, TheSweepAfterACrashKeepsOnlyWhatTheNextAttemptResumes) {
  Serve();
  const std::string kept(64, 'a');
  const std::string resumable(64, 'b');
  const std::string unrecorded(64, 'c');
  const auto blobs = state_ / "blobs";
  stdfs::create_directories(blobs / "sha256" / "not-a-blob-dir");
  stdfs::create_directories(blobs / "partial");
  stdfs::create_directories(blobs / "stray");
  testing::WriteFile(blobs / "sha256" / kept, "complete");
  testing::WriteFile(blobs / "sha256" / "x.tmp.1.2", "temp");
  testing::WriteFile(blobs / "partial" / resumable, "half");
  testing::WriteFile(blobs / "partial" / unrecorded, "cut before its first record");
  testing::WriteFile(blobs / "stray" / "file", "?");
  // Complete, its record gone, cut before its rename.
  const std::string whole_content = "every byte of a blob";
  const std::string whole = Sha256Digest(whole_content).substr(7);
  testing::WriteFile(blobs / "partial" / whole, whole_content);
  store::DownloadRecord record;
  record.digest = "sha256:" + resumable;
  record.url = "http://127.0.0.1/blobs/sha256/" + resumable;
  record.bytes_done = 4;
  record.total_bytes = 100;
  ASSERT_TRUE(store_->PutDownload(record));

  ASSERT_TRUE(installer_->SweepInterruptedDownloads());

  EXPECT_TRUE(stdfs::exists(blobs / "sha256" / kept));
  EXPECT_TRUE(stdfs::exists(blobs / "partial" / resumable));
  EXPECT_FALSE(stdfs::exists(blobs / "partial" / unrecorded));
  EXPECT_FALSE(stdfs::exists(blobs / "sha256" / "x.tmp.1.2"));
  EXPECT_FALSE(stdfs::exists(blobs / "sha256" / "not-a-blob-dir"));
  EXPECT_FALSE(stdfs::exists(blobs / "stray"));
  EXPECT_FALSE(stdfs::exists(blobs / "partial" / whole));
  EXPECT_EQ(fs::ReadFile(blobs / "sha256" / whole).value_or(""), whole_content);
  auto still = store_->GetDownload("sha256:" + resumable);
  ASSERT_TRUE(still);
  EXPECT_TRUE(still->has_value());
}

}  // namespace
}  // namespace ferry::update
