// What a fleet device reports when an update cannot happen, and what the server refuses up front:
// a corrupt blob is reported once and backed off (no re-download at every poll), a deployment of
// the version a device runs completes, an unpublished version is refused, an offline bundle is
// admitted like a network release (free space first), and `ferry logs` shows the container's
// output. Real ferryd, runc, ferry-server and ferry-publish. Needs root, runc and busybox-static.
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "device_lab.hpp"
#include "ferry/core/fs.hpp"
#include "fleet_lab.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

std::size_t Count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

class ReportingE2e : public testing::FleetLab {
 protected:
  // The events of `kind` the server holds for dev-1.
  std::vector<Json> ServerEvents(const std::string& kind) {
    auto r = Admin({"--json", "devices", "show", "dev-1"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::vector<Json> out;
    if (r.exit_code == 0) {
      for (const auto& e : Json::parse(r.out).value("events", Json::array())) {
        if (e.value("kind", "") == kind) {
          out.push_back(e);
        }
      }
    }
    return out;
  }
};

TEST_F(ReportingE2e, ACorruptBlobIsReportedOnceCountedByThePhaseAndBackedOff) {
  Release("1.0.0");
  StartServer(true, {"--fault", "flip:offset=100,path=/blobs/sha256/*"});
  StartFleetDevice();
  const std::string d = Deploy("1.0.0");
  ASSERT_TRUE(DeploymentReaches(d, "failed")) << Deployment(d).dump(2) << Log();
  Json dep = Deployment(d);
  ASSERT_EQ(dep["failures"].size(), 1u) << dep.dump(2);
  EXPECT_NE(dep["failures"][0]["reason"].get<std::string>().find("sha256"), std::string::npos)
      << dep.dump(2);
  // One device of one failed: above the default ratio, so the phase pauses the deployment.
  EXPECT_EQ(dep["state"], "paused") << dep.dump(2);

  // Several polls later: the blob was not fetched again and no second event went out.
  const std::size_t blobs = ServerRequests("GET", "/blobs/sha256/");
  const std::size_t polls = ServerRequests("GET", "/v1/device/assignment");
  ASSERT_TRUE(testing::WaitFor(
      [&] { return ServerRequests("GET", "/v1/device/assignment") >= polls + 5; }, 30s))
      << ServerLog();
  EXPECT_EQ(ServerRequests("GET", "/blobs/sha256/"), blobs) << ServerLog();
  EXPECT_EQ(ServerEvents("failed").size(), 1u);
  EXPECT_NE(Log().find("next attempt in"), std::string::npos) << Log();

  // `ferry why` explains it, though no revision was ever made.
  auto why = Ferry({"why", "web"});
  ASSERT_EQ(why.exit_code, 0) << why.out << why.err;
  EXPECT_NE(why.out.find("1.0.0 (deployment " + d + ") failed"), std::string::npos) << why.out;
  EXPECT_NE(why.out.find("sha256"), std::string::npos) << why.out;

  // `ferry check` tries again at once; the same failure is not sent twice.
  auto check = Ferry({"check"});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  ASSERT_TRUE(
      testing::WaitFor([&] { return ServerRequests("GET", "/blobs/sha256/") > blobs; }, 30s))
      << ServerLog();
  // It failed again, and its backoff started afresh.
  ASSERT_TRUE(testing::WaitFor([&] { return Count(Log(), "next attempt in 60 s") >= 2; }, 30s))
      << Log();
  EXPECT_EQ(ServerEvents("failed").size(), 1u);
}

TEST_F(ReportingE2e, ARevertToTheVersionADeviceRunsCompletes) {
  Release("1.0.0");
  Release("2.0.0", "500");
  StartServer(true);
  StartFleetDevice();
  ASSERT_TRUE(DeploymentReaches(Deploy("1.0.0"), "committed")) << Log();
  const std::string d2 = Deploy("2.0.0");
  ASSERT_TRUE(DeploymentReaches(d2, "rolled-back")) << Deployment(d2).dump(2) << Log();
  EXPECT_EQ(Page(), "version 1.0.0");

  // The revert goes to 1.0.0, which the device runs again: nothing to install, and it says so.
  auto revert = Admin({"--json", "deploy", "revert", d2, "--phase-wait", "1s"});
  ASSERT_EQ(revert.exit_code, 0) << revert.out << revert.err;
  const std::string back = Json::parse(revert.out)["deployment"]["id"];
  ASSERT_TRUE(
      testing::WaitFor([&] { return Deployment(back).value("state", "") == "completed"; }, 60s))
      << Deployment(back).dump(2) << Log();
  EXPECT_EQ(Deployment(back)["counts"].value("committed", 0), 1) << Deployment(back).dump(2);
  EXPECT_EQ(ServerEvents("already-installed").size(), 1u);
  EXPECT_EQ(Page(), "version 1.0.0");
  auto check = Ferry({"check"});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(
      check.out.find("assigned: web 1.0.0 (deployment " + back + "), a downgrade, already running"),
      std::string::npos)
      << check.out;

  // The operator reads the device's inventory as a table, not as raw JSON.
  auto show = Admin({"devices", "show", "dev-1"});
  ASSERT_EQ(show.exit_code, 0) << show.out << show.err;
  EXPECT_TRUE(std::regex_search(show.out, std::regex("\\nweb +1\\.0\\.0 +healthy "))) << show.out;
  EXPECT_EQ(show.out.find("{\"agent_version\""), std::string::npos) << show.out;
}

TEST_F(ReportingE2e, TheServerRefusesAVersionTheRepositoryDoesNotList) {
  Release("1.0.0");
  StartServer(true);
  Provision("dev-1", dir_ / "device-token");
  auto r = Admin({"deploy", "create", "--app", "web", "--version", "1.1.0", "--device", "dev-1"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("web 1.1.0 is not published"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("web/1.1.0.json"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("deployment: deployment:"), std::string::npos) << r.err;
  auto list = Admin({"--json", "deploy", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Json::parse(list.out)["deployments"].empty()) << list.out;

  // Published a moment later, it is accepted: the server reads the metadata at each request.
  Release("1.1.0");
  auto again =
      Admin({"deploy", "create", "--app", "web", "--version", "1.1.0", "--device", "dev-1"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;

  // A malformed rollout is a usage error, found before anything is sent.
  auto phases = Admin({"deploy", "create", "--app", "web", "--version", "1.0.0", "--device",
                       "dev-1", "--phases", "10,5,100"});
  EXPECT_EQ(phases.exit_code, 2) << phases.out << phases.err;
  EXPECT_NE(phases.err.find("--phases"), std::string::npos) << phases.err;
}

TEST_F(ReportingE2e, AnOfflineBundleBelowMinFreeBytesIsRefusedBeforeUnpacking) {
  Release("1.0.0");
  stdfs::create_directories(dir_ / "state");
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs((dir_ / "state").c_str(), &vfs), 0);
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  // A margin just above what is free: the bundle does not fit.
  StartFerryd({}, "[limits]\nmin_free_bytes = " + std::to_string(free_bytes + (64u << 20)) + "\n");
  auto r = Ferry({"install", Bundle("1.0.0")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("not enough space"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not unpacked"), std::string::npos) << r.err;
  std::error_code ec;
  EXPECT_FALSE(stdfs::exists(dir_ / "state/incoming/bundle", ec));
  EXPECT_TRUE(Containers().empty());
  EXPECT_EQ(CurrentVersion(), "");

  // With room, the same bundle installs.
  StartFerryd({}, "");
  auto ok = Ferry({"install", Bundle("1.0.0")});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
}

TEST_F(ReportingE2e, FerryLogsShowsAndFollowsTheContainersOutput) {
  Release("1.0.0", "chatty");
  StartFerryd();
  auto install = Ferry({"install", Bundle("1.0.0")});
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err << Log();

  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto logs = Ferry({"logs", "web"});
        return logs.exit_code == 0 && logs.out.find("tick 3\n") != std::string::npos;
      },
      20s))
      << Ferry({"logs", "web"}).out;
  auto logs = Ferry({"logs", "web"});
  EXPECT_NE(logs.out.find("web says hello\n"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("web warns\n"), std::string::npos) << logs.out;
  auto two = Ferry({"logs", "web", "-n", "2"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '\n'), 2) << two.out;
  EXPECT_EQ(two.out.find("web says hello"), std::string::npos) << two.out;

  // -f keeps printing: ticks written after it started come through.
  const auto out = dir_ / "follow.out";
  testing::Child follow({testing::BuiltProgram("ferry").string(), "--socket",
                         (dir_ / "ferryd.sock").string(), "logs", "web", "-n", "1", "-f"},
                        {}, out);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto text = fs::ReadFile(out);
        return text && std::count(text->begin(), text->end(), '\n') >= 4;
      },
      20s));
  EXPECT_TRUE(follow.running());

  auto unknown = Ferry({"logs", "nosuchapp"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out << unknown.err;
  auto frob = Ferry({"frob"});
  EXPECT_EQ(frob.exit_code, 2);
  EXPECT_NE(frob.err.find("unknown command \"frob\""), std::string::npos) << frob.err;
}

}  // namespace
}  // namespace ferry
