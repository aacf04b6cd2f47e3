// The update path over the network, as a fleet device lives it: ferryd polls ferry-server for its
// assignment, fetches signed releases (deltas where it can) from the repository — ferry-server or
// a plain nginx — runs them on real runc, rolls back a bad one by itself and reports everything
// back. Needs root, runc, busybox-static and nginx.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string_view>

#include "device_lab.hpp"
#include "ferry/core/fs.hpp"
#include "fleet_lab.hpp"
#include "support/prerequisite.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

using testing::BlobBytesSent;

using FleetE2e = testing::FleetLab;

TEST_F(FleetE2e, DeployCommitThenBadReleaseRollsBackByItselfAndIsReported) {
  Release("1.0.0");
  Release("2.0.0");
  Release("3.0.0", "500");
  StartServer(true);
  StartFleetDevice();

  const std::string d1 = Deploy("1.0.0");
  ASSERT_TRUE(DeploymentReaches(d1, "committed")) << Deployment(d1).dump(2) << Log();
  EXPECT_EQ(Page(), "version 1.0.0");

  const std::string d2 = Deploy("2.0.0");
  ASSERT_TRUE(DeploymentReaches(d2, "committed")) << Deployment(d2).dump(2) << Log();
  EXPECT_EQ(Page(), "version 2.0.0");

  const std::string d3 = Deploy("3.0.0");
  ASSERT_TRUE(DeploymentReaches(d3, "rolled-back")) << Deployment(d3).dump(2) << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
  EXPECT_EQ(CurrentVersion(), "2.0.0");
  Json d = Deployment(d3);
  ASSERT_EQ(d["failures"].size(), 1u) << d.dump(2);
  EXPECT_NE(d["failures"][0]["reason"].get<std::string>().find("HTTP status 500"),
            std::string::npos)
      << d.dump(2);

  // Still assigned, but marked bad here: a check (and the polls meanwhile) never retries it.
  auto check = Ferry({"--json", "check"});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_TRUE(Json::parse(check.out)["queued"].empty()) << check.out;
  // Two more polls seen by the server, and a poll interval for anything they started to show.
  const std::size_t polls = ServerRequests("GET", "/v1/device/assignment");
  ASSERT_TRUE(WaitForServerRequests("GET", "/v1/device/assignment", polls, 3, 30s)) << ServerLog();
  auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
  EXPECT_EQ(history["revisions"].size(), 3u) << history.dump(2);
  EXPECT_EQ(Page(), "version 2.0.0");

  // The server saw the inventory.
  auto show = Admin({"--json", "devices", "show", "dev-1"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  Json device = Json::parse(show.out)["device"];
  ASSERT_TRUE(device["inventory"].is_object()) << device.dump(2);
  EXPECT_EQ(device["inventory"]["apps"][0]["version"], "2.0.0") << device.dump(2);
}

// The operator retries a release that devices marked bad (issue #18): a deployment with
// --retry-bad makes the device try it once more, and its history names the deployment.
TEST_F(FleetE2e, ADeploymentWithRetryBadTriesAReleaseMarkedBadOnceMore) {
  Release("1.0.0");
  Release("2.0.0", "500");
  StartServer(true);
  StartFleetDevice();
  const std::string d1 = Deploy("1.0.0");
  ASSERT_TRUE(DeploymentReaches(d1, "committed")) << Deployment(d1).dump(2) << Log();
  const std::string d2 = Deploy("2.0.0");
  ASSERT_TRUE(DeploymentReaches(d2, "rolled-back")) << Deployment(d2).dump(2) << Log();
  // Without the flag, a new deployment of it is refused at once: marked bad here.
  const std::string d3 = Deploy("2.0.0");
  ASSERT_TRUE(DeploymentReaches(d3, "failed")) << Deployment(d3).dump(2) << Log();
  EXPECT_EQ(Json::parse(Ferry({"--json", "history", "web"}).out)["revisions"].size(), 2u);

  const std::string d4 = Deploy("2.0.0", {"--retry-bad"});
  EXPECT_EQ(Deployment(d4)["retry_bad"], true);
  ASSERT_TRUE(DeploymentReaches(d4, "rolled-back")) << Deployment(d4).dump(2) << Log();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  const Json history = Json::parse(Ferry({"--json", "history", "web"}).out);
  ASSERT_EQ(history["revisions"].size(), 2u) << history.dump(2);
  EXPECT_EQ(history["revisions"][1]["retried"].get<std::string>().rfind(
                "operator (deployment " + d4 + ") retried it after:", 0),
            0u)
      << history.dump(2);
  EXPECT_NE(Ferry({"why", "web"}).out.find("retried: operator (deployment " + d4 + ")"),
            std::string::npos);
  // Once only: further polls leave it alone. Two more polls seen by the server, and a poll
  // interval for anything they started to show.
  const std::size_t polls = ServerRequests("GET", "/v1/device/assignment");
  ASSERT_TRUE(WaitForServerRequests("GET", "/v1/device/assignment", polls, 3, 30s)) << ServerLog();
  auto check = Ferry({"--json", "check"});
  EXPECT_TRUE(Json::parse(check.out)["queued"].empty()) << check.out;
  EXPECT_EQ(Page(), "version 1.0.0");
}

// Each restart of a committed app reaches the fleet server as an event (issue #18).
TEST_F(FleetE2e, ARestartIsAnEventTheOperatorSees) {
  Release("1.0.0");
  StartServer(true);
  StartFleetDevice();
  const std::string d1 = Deploy("1.0.0");
  ASSERT_TRUE(DeploymentReaches(d1, "committed")) << Deployment(d1).dump(2) << Log();
  const auto ids = Containers();
  ASSERT_EQ(ids.size(), 1u);
  ASSERT_EQ(
      testing::Run({"runc", "--root", (dir_ / "runc").string(), "kill", ids[0], "KILL"}).exit_code,
      0);
  const auto restarted = [&] {
    auto show = Admin({"--json", "devices", "show", "dev-1"});
    if (show.exit_code != 0) {
      return false;
    }
    for (const auto& e : Json::parse(show.out).value("events", Json::array())) {
      if (e.value("kind", "") == "restarted" &&
          e.value("reason", "").find("killed by signal 9") != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  // The restart comes after 1 s; the event goes out at the next poll.
  EXPECT_TRUE(testing::WaitFor(restarted, 30s)) << Log();
  EXPECT_NE(Admin({"devices", "show", "dev-1"}).out.find("restarted"), std::string::npos);
  EXPECT_EQ(Deployment(d1)["counts"].value("committed", 0), 1);
  // The inventory says so too: running again, restarted once, and how it last ended.
  const auto inventory_restarted = [&] {
    auto show = Admin({"--json", "devices", "show", "dev-1"});
    if (show.exit_code != 0) {
      return false;
    }
    const Json inv = Json::parse(show.out)["device"]["inventory"];
    if (!inv.is_object() || inv["apps"].empty()) {
      return false;
    }
    const Json& s = inv["apps"][0]["supervision"];
    return s.is_object() && s["running"] == true && s["restarts"] == 1 &&
           s["last_exit"].is_object() && s["last_exit"]["signal"] == 9;
  };
  EXPECT_TRUE(testing::WaitFor(inventory_restarted, 30s))
      << Admin({"--json", "devices", "show", "dev-1"}).out;
}

// A fleet revert goes back only to a release signed as an allowed downgrade: the fleet server
// cannot make a device downgrade on its own say.
TEST_F(FleetE2e, AFleetRevertNeedsAReleaseSignedAsADowngrade) {
  Release("1.0.0");
  Release("2.0.0");
  StartServer(true);
  StartFleetDevice();
  ASSERT_TRUE(DeploymentReaches(Deploy("1.0.0"), "committed")) << Log();
  const std::string d2 = Deploy("2.0.0");
  ASSERT_TRUE(DeploymentReaches(d2, "committed")) << Log();

  auto revert = Admin({"--json", "deploy", "revert", d2});
  ASSERT_EQ(revert.exit_code, 0) << revert.out << revert.err;
  const std::string back = Json::parse(revert.out)["deployment"]["id"];
  ASSERT_TRUE(DeploymentReaches(back, "failed")) << Deployment(back).dump(2) << Log();
  EXPECT_NE(Deployment(back)["failures"][0]["reason"].get<std::string>().find(
                "not signed as an allowed downgrade"),
            std::string::npos)
      << Deployment(back).dump(2);
  EXPECT_EQ(Page(), "version 2.0.0");

  // Signed as a downgrade by the release keys: the revert goes through.
  Release("1.5.0", "good", /*downgrade=*/true);
  auto signed_revert = Admin({"--json", "deploy", "revert", d2, "--version", "1.5.0"});
  ASSERT_EQ(signed_revert.exit_code, 0) << signed_revert.out << signed_revert.err;
  const std::string back2 = Json::parse(signed_revert.out)["deployment"]["id"];
  ASSERT_TRUE(DeploymentReaches(back2, "committed")) << Deployment(back2).dump(2) << Log();
  EXPECT_EQ(Page(), "version 1.5.0");
}

TEST_F(FleetE2e, UpdateFromTheRepositoryFetchesOnlyTheDeltaAndSurvivesADroppedConnection) {
  Release("1.0.0");
  Release("2.0.0");
  // The first blob download of each kind breaks after 2000 bytes: the fetcher resumes.
  StartServer(false, {"--fault", "drop:after=2000,path=/blobs/*,first=1"});
  StartFerryd({}, "repository_url = \"" + ServerUrl() + "\"\n");
  auto r1 = Ferry({"update", "web", "1.0.0"});
  ASSERT_EQ(r1.exit_code, 0) << r1.out << r1.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  const std::uint64_t full = BlobBytesSent(ServerLog());

  auto r2 = Ferry({"update", "web", "2.0.0"});
  ASSERT_EQ(r2.exit_code, 0) << r2.out << r2.err << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
  const std::uint64_t delta = BlobBytesSent(ServerLog()) - full;
  std::cout << "bytes on the wire: version 1.0.0 (full layer, one dropped connection) " << full
            << ", version 2.0.0 (delta) " << delta << "\n";
  EXPECT_GT(full, 100'000u);
  EXPECT_LT(delta * 10, full) << "the 2.0.0 update should fetch a delta, not the full layer";
  // Nothing left behind: downloaded blobs are removed once their layers are unpacked.
  std::error_code ec;
  EXPECT_TRUE(stdfs::is_empty(dir_ / "state/blobs/sha256", ec));
}

TEST_F(FleetE2e, BadRepositoryInputLeavesTheRunningRevisionAlone) {
  Release("1.0.0");
  Release("2.0.0");
  StartServer(false, {"--fault", "flip:offset=100,path=/blobs/sha256/*"});
  StartFerryd({}, "repository_url = \"" + ServerUrl() + "\"\n");
  auto r1 = Ferry({"update", "web", "1.0.0"});
  EXPECT_EQ(r1.exit_code, 1) << r1.out << r1.err;
  EXPECT_NE(r1.err.find("sha256"), std::string::npos) << r1.err;
  EXPECT_EQ(Containers().size(), 0u);
  // Unsigned version: refused before anything is fetched.
  auto r9 = Ferry({"update", "web", "9.9.9"});
  EXPECT_EQ(r9.exit_code, 1);
  EXPECT_NE(r9.err.find("web/9.9.9.json"), std::string::npos) << r9.err;
}

// ferryd killed while downloading or staging (by a named crash point, or SIGKILL mid-transfer),
// then started again: the download resumes from the bytes on disk, a half-done staging is cleaned
// up, and the update completes: the oracle finds nothing left behind, and the downloaded blob is
// gone once its layer is unpacked.
class FetchAndStageCrashE2e : public FleetE2e, public ::testing::WithParamInterface<const char*> {};

TEST_P(FetchAndStageCrashE2e, RestartResumesTheDownloadAndTheUpdateCompletes) {
  Release("1.0.0");
  StartServer(false);
  const std::string config = "repository_url = \"" + ServerUrl() + "\"\n";
  StartFerryd({{"FERRY_CRASHPOINT", GetParam()}}, config);
  auto r = Ferry({"update", "web", "1.0.0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(ferryd_->Wait(30s), 137) << Log();
  const std::uint64_t before = BlobBytesSent(ServerLog());
  StartFerryd({}, config);
  auto again = Ferry({"update", "web", "1.0.0"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  if (!std::string_view(GetParam()).starts_with("layers.")) {
    EXPECT_EQ(BlobBytesSent(ServerLog()), before) << "the blob was on disk already";
  }
  // The layer is unpacked while its blob arrives, so a kill inside the extraction (layers.*) may
  // come before the last byte: the next attempt then resumes the download from its last record.
  ExpectOracleHolds();
  EXPECT_TRUE(stdfs::is_empty(dir_ / "state/blobs/sha256"));
}

INSTANTIATE_TEST_SUITE_P(
    Points, FetchAndStageCrashE2e,
    ::testing::Values("update.download.unpacked", "update.download.before-rename",
                      "update.download.after-rename", "update.download.complete",
                      "layers.extract.after-entry", "layers.extract.before-drain",
                      "layers.stage.after-extract", "layers.stage.after-sync",
                      "layers.stage.after-rename", "engine.stage.before-rename",
                      "engine.stage.after-rename"),
    [](const auto& param_info) {
      std::string name = param_info.param;
      for (char& c : name) {
        c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      }
      return name;
    });

TEST_F(FleetE2e, KilledMidTransferResumesFromThePartialFile) {
  Release("1.0.0");
  StartServer(false, {"--fault", "throttle:rate=65536,path=/blobs/*"});
  const std::string config = "repository_url = \"" + ServerUrl() + "\"\n";
  StartFerryd({}, config);
  auto update = std::async(std::launch::async, [&] { return Ferry({"update", "web", "1.0.0"}); });
  std::uint64_t seen = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        Json s = Status();
        for (const auto& app : s["apps"]) {
          if (app["update"].is_object() && app["update"]["step"] == "downloading") {
            seen = app["update"]["bytes_done"].get<std::uint64_t>();
          }
        }
        return seen > 100'000;
      },
      30s))
      << Status().dump(2);
  ferryd_->Signal(SIGKILL);
  EXPECT_EQ(ferryd_->Wait(10s), 137);
  update.get();
  StartFerryd({}, config);
  auto again = Ferry({"update", "web", "1.0.0"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  std::smatch m;
  const std::string log = Log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("resumed from ([0-9]+)"))) << log;
  EXPECT_GT(std::stoull(m[1].str()), 0u) << log;
  ExpectOracleHolds();
}

// The repository on the web server an operator already runs: nginx serves it as static files,
// ferry-server only the fleet API.
TEST_F(FleetE2e, RepositoryServedByNginx) {
  if (!stdfs::exists("/usr/sbin/nginx")) {
    FERRY_SKIP_UNLESS_PREPARED("needs nginx (nginx-light)");
  }
  Release("1.0.0");
  Release("2.0.0");
  StartServer(true);
  const int nginx_port = testing::FreePort();
  stdfs::create_directories(dir_ / "nginx/logs");
  std::ofstream(dir_ / "nginx/nginx.conf")
      // The test's directories are private to root: the worker must be able to read them. One
      // process (no master): when the test ends, no orphaned worker is left running.
      << "daemon off;\nmaster_process off;\nuser root;\npid " << (dir_ / "nginx/nginx.pid").string()
      << ";\nerror_log " << (dir_ / "nginx/logs/error.log").string()
      << ";\nevents { worker_connections 64; }\nhttp {\n"
      << "  log_format ferry '$remote_addr $request_method $uri $status $body_bytes_sent';\n"
      << "  access_log " << (dir_ / "nginx/logs/access.log").string() << " ferry;\n"
      << "  client_body_temp_path " << (dir_ / "nginx").string() << ";\n"
      << "  proxy_temp_path " << (dir_ / "nginx").string() << ";\n"
      << "  fastcgi_temp_path " << (dir_ / "nginx").string() << ";\n"
      << "  uwsgi_temp_path " << (dir_ / "nginx").string() << ";\n"
      << "  scgi_temp_path " << (dir_ / "nginx").string() << ";\n"
      << "  types { application/json json; }\n  default_type application/octet-stream;\n"
      << "  server {\n    listen 127.0.0.1:" << nginx_port << ";\n    root " << Repo().string()
      << ";\n  }\n}\n";
  testing::Child nginx({"/usr/sbin/nginx", "-c", (dir_ / "nginx/nginx.conf").string(), "-p",
                        (dir_ / "nginx").string()},
                       {}, dir_ / "nginx/stderr.log");
  const std::string repo_url = "http://127.0.0.1:" + std::to_string(nginx_port);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::Run({"curl", "-sf", repo_url + "/metadata/1.root.json", "-o", "/dev/null"})
                   .exit_code == 0;
      },
      10s));
  Provision("dev-1", dir_ / "device-token");
  StartFerryd({}, "server_url = \"" + ServerUrl() + "\"\nrepository_url = \"" + repo_url +
                      "\"\ndevice_token_file = \"" + (dir_ / "device-token").string() +
                      "\"\npoll_interval = \"1s\"\n");
  const std::string d1 = Deploy("1.0.0");
  ASSERT_TRUE(DeploymentReaches(d1, "committed")) << Deployment(d1).dump(2) << Log();
  const std::string d2 = Deploy("2.0.0");
  ASSERT_TRUE(DeploymentReaches(d2, "committed")) << Deployment(d2).dump(2) << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
  auto access = fs::ReadFile(dir_ / "nginx/logs/access.log");
  ASSERT_TRUE(access);
  EXPECT_GT(BlobBytesSent(*access), 0u) << *access;
  EXPECT_EQ(BlobBytesSent(ServerLog()), 0u) << "blobs come from nginx only";
  nginx.Signal(SIGQUIT);
}

}  // namespace
}  // namespace ferry
