// ferry-tuf-client as a black box: a generated repository served over loopback HTTP, the real
// binary driven through init, refresh and download as the TUF conformance suite drives clients.
#include <gtest/gtest.h>

#include <filesystem>

#include "ferry/core/fs.hpp"
#include "ferry/trust/crypto.hpp"
#include "ferry/trust/metadata.hpp"
#include "loopback_server.hpp"
#include "support/prerequisite.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "test_repository.hpp"

namespace ferry::trust::testing {
namespace {

namespace stdfs = std::filesystem;
using ferry::testing::BuiltProgram;
using ferry::testing::LoopbackServer;
using ferry::testing::RunResult;
using ferry::testing::TempDir;

class TufClient : public ::testing::Test {
 protected:
  TufClient() : repo(KeyType::kEcdsaP256, std::chrono::system_clock::now()) {
    repo.targets["targets"].targets["apps/demo/manifest.json"] = "{\"app\":\"demo\",\"v\":1}";
    repo.targets["targets"].targets["readme.txt"] = "hello";
    repo.PublishRoot();
    repo.Publish();
    Serve();
    ferry::fs::WriteFileAtomic(dir / "initial_root.json", repo.files.at("metadata/1.root.json"))
        .value();
  }

  void Serve() { server.SetFiles(repo.files); }

  RunResult Client(std::vector<std::string> args) {
    args.insert(args.begin(), BuiltProgram("ferry-tuf-client").string());
    return ferry::testing::Run(args);
  }
  RunResult Init() {
    return Client(
        {"--metadata-dir", (dir / "md").string(), "init", (dir / "initial_root.json").string()});
  }
  RunResult Refresh() {
    return Client({"--metadata-url", server.BaseUrl() + "/metadata", "--metadata-dir",
                   (dir / "md").string(), "refresh"});
  }
  RunResult Download(const std::vector<std::string>& names) {
    std::vector<std::string> args = {"--metadata-url", server.BaseUrl() + "/metadata",
                                     "--metadata-dir", (dir / "md").string()};
    for (const auto& n : names) {
      args.push_back("--target-name");
      args.push_back(n);
    }
    args.insert(args.end(), {"--target-dir", (dir / "targets").string(), "--target-base-url",
                             server.BaseUrl() + "/targets", "download"});
    return Client(args);
  }
  std::string Stored(const std::string& file) {
    auto bytes = ferry::fs::ReadFile(dir / "md" / file);
    return bytes ? *bytes : std::string();
  }
  int TargetRequests() {
    int n = 0;
    for (const auto& r : server.Requests()) {
      n += r.starts_with("targets/") ? 1 : 0;
    }
    return n;
  }

  TempDir dir;
  TestRepository repo;
  LoopbackServer server;
};

TEST_F(TufClient, InitRefreshDownload) {
  RunResult r = Init();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(server.Requests().empty());  // init makes no request
  EXPECT_EQ(Stored("root.json"), repo.files.at("metadata/1.root.json"));

  r = Refresh();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Stored("timestamp.json"), repo.files.at("metadata/timestamp.json"));
  EXPECT_EQ(Stored("snapshot.json"), repo.files.at("metadata/1.snapshot.json"));
  EXPECT_EQ(Stored("targets.json"), repo.files.at("metadata/1.targets.json"));

  r = Download({"apps/demo/manifest.json", "readme.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = ferry::fs::ReadFile(dir / "targets" / QuoteComponent("apps/demo/manifest.json"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "{\"app\":\"demo\",\"v\":1}");
  EXPECT_EQ(TargetRequests(), 2);

  // Already there with matching hashes: not fetched again.
  r = Download({"apps/demo/manifest.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(TargetRequests(), 2);
}

TEST_F(TufClient, FollowsRootRotation) {
  ASSERT_EQ(Init().exit_code, 0);
  ASSERT_EQ(Refresh().exit_code, 0);
  // Rotate root and timestamp keys; v2 is signed by the old and the new root key.
  repo.extra_root_signers = repo.signers["root"];
  repo.ClearRootKeys("root");
  repo.AddRootKey("root", repo.NewKey());
  repo.ClearRootKeys("timestamp");
  repo.AddRootKey("timestamp", repo.NewKey());
  repo.root_version = 2;
  repo.PublishRoot();
  repo.extra_root_signers.clear();
  repo.targets["targets"].targets["readme.txt"] = "hello again";
  repo.BumpAndPublish();
  Serve();
  RunResult r = Download({"readme.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Stored("root.json"), repo.files.at("metadata/2.root.json"));
  EXPECT_EQ(*ferry::fs::ReadFile(dir / "targets" / "readme.txt"), "hello again");
}

TEST_F(TufClient, RefusesOlderMetadataFromServer) {
  ASSERT_EQ(Init().exit_code, 0);
  const auto old_files = repo.files;
  repo.BumpAndPublish();
  Serve();
  ASSERT_EQ(Refresh().exit_code, 0);
  const std::string trusted_timestamp = Stored("timestamp.json");
  // The server (or a man in the middle) swaps the old repository back in.
  server.SetFiles(old_files);
  RunResult r = Refresh();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("rollback"), std::string::npos) << r.err;
  EXPECT_EQ(Stored("timestamp.json"), trusted_timestamp);
  // Old snapshot served under the current timestamp: also refused.
  server.SetFiles(repo.files);
  server.SetFile("metadata/2.snapshot.json", old_files.at("metadata/1.snapshot.json"));
  ASSERT_TRUE(stdfs::remove(dir / "md" / "snapshot.json"));
  EXPECT_EQ(Refresh().exit_code, 1);
}

TEST_F(TufClient, RefusesEndlessMetadataAndOverlongTargets) {
  ASSERT_EQ(Init().exit_code, 0);
  server.SetFile("metadata/timestamp.json", std::string(10 << 20, ' '));
  EXPECT_EQ(Refresh().exit_code, 1);
  EXPECT_FALSE(stdfs::exists(dir / "md" / "timestamp.json"));
  Serve();
  const std::string path = repo.TargetPathFor("readme.txt", "hello");
  server.SetFile(path, std::string("hello") + std::string(1 << 20, '!'));
  EXPECT_EQ(Download({"readme.txt"}).exit_code, 1);
  EXPECT_FALSE(stdfs::exists(dir / "targets" / "readme.txt"));
}

TEST_F(TufClient, TargetNamedWithDotDotStaysInsideTargetDir) {
  repo.targets["targets"].targets["../../escape.txt"] = "caught";
  repo.BumpAndPublish();
  Serve();
  ASSERT_EQ(Init().exit_code, 0);
  RunResult r = Download({"../../escape.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(*ferry::fs::ReadFile(dir / "targets" / "..%2F..%2Fescape.txt"), "caught");
  EXPECT_FALSE(stdfs::exists(dir / "escape.txt"));
  EXPECT_FALSE(stdfs::exists(dir.path().parent_path() / "escape.txt"));
}

TEST_F(TufClient, StopsAtFirstFailingTarget) {
  ASSERT_EQ(Init().exit_code, 0);
  RunResult r = Download({"readme.txt", "missing.bin", "apps/demo/manifest.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(stdfs::exists(dir / "targets" / "readme.txt"));
  EXPECT_FALSE(stdfs::exists(dir / "targets" / QuoteComponent("apps/demo/manifest.json")));
}

TEST_F(TufClient, ExitsOneOnBadUsageOrMissingInit) {
  EXPECT_EQ(Refresh().exit_code, 1);  // not initialised
  EXPECT_EQ(Client({}).exit_code, 1);
  EXPECT_EQ(Client({"--metadata-dir"}).exit_code, 1);
  EXPECT_EQ(Client({"--bogus", "x", "refresh"}).exit_code, 1);
  EXPECT_EQ(Client({"--metadata-dir", (dir / "md").string(), "explode"}).exit_code, 1);
  EXPECT_EQ(Client({"--metadata-dir", (dir / "md").string(), "init",
                    (dir / "no-such-root.json").string()})
                .exit_code,
            1);
  // A garbage root is accepted by init (no checks, as the contract says) and refused by refresh.
  ferry::fs::WriteFileAtomic(dir / "garbage.json", "{\"signed\": 1.5}").value();
  EXPECT_EQ(
      Client({"--metadata-dir", (dir / "md").string(), "init", (dir / "garbage.json").string()})
          .exit_code,
      0);
  EXPECT_EQ(Refresh().exit_code, 1);
}

TEST_F(TufClient, RefusesMetadataExpiredAtFakedTime) {
  ASSERT_EQ(Init().exit_code, 0);
  ASSERT_EQ(Refresh().exit_code, 0);
  // Two years on, everything (valid for one year) has expired; faketime moves libc time().
  if (!stdfs::exists("/usr/bin/faketime")) {
    FERRY_SKIP_UNLESS_PREPARED("faketime is not installed");
  }
  RunResult r = ferry::testing::Run(
      {"faketime", "-f", "+730d", BuiltProgram("ferry-tuf-client").string(), "--metadata-url",
       server.BaseUrl() + "/metadata", "--metadata-dir", (dir / "md").string(), "refresh"},
      // faketime preloads its library; under AddressSanitizer that is allowed explicitly.
      {{"ASAN_OPTIONS", "verify_asan_link_order=0"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("expired"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ferry::trust::testing
