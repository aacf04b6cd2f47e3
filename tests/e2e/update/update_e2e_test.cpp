// The whole update path as a device sees it: releases made by ferry-publish, offline bundles,
// ferryd running them with real runc, and ferry at the console. Needs root and runc.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "ferry/core/fs.hpp"
#include "support/mounts.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class UpdateE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !stdfs::exists("/usr/sbin/runc") || !stdfs::exists("/bin/busybox")) {
      GTEST_SKIP() << "needs root, runc and busybox-static";
    }
    port_ = FreePort();
    ASSERT_EQ(Publish({"init", "--repo", (dir_ / "repo").string(), "--keys", Keys()}).exit_code, 0);
  }

  void TearDown() override {
    ferryd_.reset();
    for (const auto& id : Containers()) {
      testing::Run({"runc", "--root", (dir_ / "runc").string(), "delete", "--force", id});
    }
    // Overlay root filesystems stay mounted when ferryd stops (its containers may live on).
    testing::UnmountAllBelow(dir_.path());
  }

  std::string Keys() const { return (dir_ / "keys").string(); }

  testing::RunResult Publish(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BuiltProgram("ferry-publish").string());
    return testing::Run(args);
  }

  // Publishes version `v` of the web app. `kind`: "good"; or a bad one: "exits" at once, "500"
  // (serves, but its health endpoint fails), "hangs" (never listens), "crashes" (runs a second,
  // then dies: no restart policy hides a crash loop from the trial).
  void Release(const std::string& v, const std::string& kind = "good") {
    const auto image = dir_ / ("image-" + v);
    stdfs::create_directories(image / "bin");
    stdfs::create_directories(image / "www");
    stdfs::copy_file("/bin/busybox", image / "bin" / "busybox");
    stdfs::create_symlink("busybox", image / "bin" / "sh");
    std::ofstream(image / "www" / "index.html") << "version " << v;
    stdfs::create_directories(image / "www" / "cgi-bin");
    {
      std::ofstream health(image / "www" / "cgi-bin" / "health");
      health << "#!/bin/sh\n"
             << (kind == "500" ? "echo 'Status: 500 Internal Server Error'\n"
                               : "echo 'Status: 200 OK'\n")
             << "echo 'Content-Type: text/plain'\necho\necho " << kind << "\n";
    }
    stdfs::permissions(image / "www" / "cgi-bin" / "health", stdfs::perms(0755));
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    Json entry = Json::array({"/bin/busybox", "httpd", "-f", "-p", listen, "-h", "/www"});
    if (kind == "exits") {
      entry = Json::array({"/bin/busybox", "false"});
    } else if (kind == "hangs") {
      entry = Json::array({"/bin/busybox", "sleep", "100000"});
    } else if (kind == "crashes") {
      entry = Json::array({"/bin/busybox", "sh", "-c", "sleep 1; exit 3"});
    }
    Json app{{"entrypoint", entry},
             {"health",
              {{"kind", "http"},
               {"url", "http://" + listen + "/cgi-bin/health"},
               {"interval_s", 0.25},
               {"successes", 2},
               {"deadline_s", 5}}}};
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / ("app-" + v + ".json"), app.dump()));
    auto r = Publish({"release", "--repo", (dir_ / "repo").string(), "--keys", Keys(), "--app",
                      "web", "--version", v, "--image", image.string(), "--app-config",
                      (dir_ / ("app-" + v + ".json")).string(), "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto b = Publish({"bundle", "--repo", (dir_ / "repo").string(), "--app", "web", "--version", v,
                      "--out", Bundle(v)});
    ASSERT_EQ(b.exit_code, 0) << b.err;
  }

  std::string Bundle(const std::string& v) const { return (dir_ / (v + ".bundle")).string(); }

  void StartFerryd(const std::map<std::string, std::string>& env = {}) {
    const std::string config = "state_dir = \"" + (dir_ / "state").string() + "\"\nsocket = \"" +
                               (dir_ / "ferryd.sock").string() + "\"\ntrusted_root = \"" +
                               (dir_ / "repo/metadata/1.root.json").string() +
                               "\"\n[runtime]\nroot = \"" + (dir_ / "runc").string() +
                               "\"\nstop_timeout = 1\n";
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "ferryd.toml", config));
    ferryd_ = std::make_unique<testing::Child>(
        std::vector<std::string>{testing::BuiltProgram("ferryd"), "--config",
                                 (dir_ / "ferryd.toml").string()},
        env, dir_ / "ferryd.log");
    ASSERT_TRUE(testing::WaitFor([&] { return Ferry({"status"}).exit_code == 0; }, 30s)) << Log();
  }

  testing::RunResult Ferry(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BuiltProgram("ferry").string(), "--socket",
                               (dir_ / "ferryd.sock").string()});
    return testing::Run(args);
  }

  Json Status() {
    auto r = Ferry({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? Json::parse(r.out) : Json();
  }

  std::string CurrentVersion() {
    Json s = Status();
    if (!s.is_object() || s["apps"].empty() || s["apps"][0]["current"].is_null()) {
      return "";
    }
    return s["apps"][0]["current"]["version"];
  }

  std::string Page() {
    auto r = testing::Run(
        {"curl", "-s", "--max-time", "2", "http://127.0.0.1:" + std::to_string(port_) + "/"});
    return r.exit_code == 0 ? r.out : "";
  }

  std::vector<std::string> Containers() {
    auto r = testing::Run({"runc", "--root", (dir_ / "runc").string(), "list", "-q"});
    std::vector<std::string> ids;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) {
        ids.push_back(line);
      }
    }
    return ids;
  }

  std::string Log() {
    auto t = fs::ReadFile(dir_ / "ferryd.log");
    return t ? *t : "";
  }

  testing::TempDir dir_;
  int port_ = 0;
  std::unique_ptr<testing::Child> ferryd_;
};

TEST_F(UpdateE2e, HealthyUpdateIsCommittedAndServesTheNewVersion) {
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  auto r1 = Ferry({"install", Bundle("1.0.0")});
  ASSERT_EQ(r1.exit_code, 0) << r1.out << r1.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  auto r2 = Ferry({"install", Bundle("2.0.0")});
  ASSERT_EQ(r2.exit_code, 0) << r2.out << r2.err << Log();
  EXPECT_NE(r2.out.find("committed: web 2.0.0"), std::string::npos) << r2.out;
  EXPECT_EQ(Page(), "version 2.0.0");
  EXPECT_EQ(CurrentVersion(), "2.0.0");
  // The switch (old stopped → new started) is timed: that is the app's downtime.
  auto h = Ferry({"--json", "history", "web"});
  ASSERT_EQ(h.exit_code, 0);
  Json history = Json::parse(h.out);
  bool switch_timed = false;
  for (const auto& step : history["revisions"][1]["steps"]) {
    switch_timed |= step["step"] == "switching" && step["duration_ms"].is_number();
  }
  EXPECT_TRUE(switch_timed) << history.dump(2);
  EXPECT_EQ(Containers().size(), 1u);
}

TEST_F(UpdateE2e, EveryKindOfBadVersionIsRolledBackAndNeverRetried) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  int minor = 1;
  const std::map<std::string, std::string> expected_reason = {
      {"exits", "container exited with status 1"},
      {"500", "HTTP status 500"},
      {"hangs", "did not pass within"},
      {"crashes", "container exited with status 3"}};
  for (const auto& [kind, reason] : expected_reason) {
    SCOPED_TRACE(kind);
    const std::string v = "1." + std::to_string(minor++) + ".0";
    Release(v, kind);
    const auto start = std::chrono::steady_clock::now();
    auto r = Ferry({"install", Bundle(v)});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
    EXPECT_NE(r.out.find("rolled-back"), std::string::npos) << r.out;
    EXPECT_LT(took, 5s + 8s) << "deadline plus a few seconds";
    EXPECT_EQ(Page(), "version 1.0.0");
    EXPECT_EQ(CurrentVersion(), "1.0.0");
    auto why = Ferry({"why", "web"});
    EXPECT_NE(why.out.find(v), std::string::npos) << why.out;
    EXPECT_NE(why.out.find("health check failed"), std::string::npos) << why.out;
    EXPECT_NE(why.out.find(reason), std::string::npos) << why.out;
    EXPECT_NE(why.out.find("marked bad"), std::string::npos) << why.out;
    auto again = Ferry({"install", Bundle(v)});
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.err.find("marked bad"), std::string::npos) << again.err;
  }
  EXPECT_EQ(Containers().size(), 1u);
}

TEST_F(UpdateE2e, RevertByHandAndInstallWithoutAnyServer) {
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0);
  ASSERT_EQ(Ferry({"install", Bundle("2.0.0")}).exit_code, 0);
  auto r = Ferry({"revert", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Ferry({"revert", "web", "--to", "no-such-revision"}).exit_code, 1);
}

TEST_F(UpdateE2e, BundleSignedWithOtherKeysIsRefused) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0);
  // A second repository with its own keys: its releases mean nothing to this device.
  testing::TempDir other;
  ASSERT_EQ(
      Publish({"init", "--repo", (other / "repo").string(), "--keys", (other / "keys").string()})
          .exit_code,
      0);
  const auto image = dir_ / "image-1.0.0";
  ASSERT_EQ(Publish({"release", "--repo", (other / "repo").string(), "--keys",
                     (other / "keys").string(), "--app", "web", "--version", "9.0.0", "--image",
                     image.string(), "--app-config", (dir_ / "app-1.0.0.json").string()})
                .exit_code,
            0);
  ASSERT_EQ(Publish({"bundle", "--repo", (other / "repo").string(), "--app", "web", "--version",
                     "9.0.0", "--out", (other / "evil.bundle").string()})
                .exit_code,
            0);
  auto r = Ferry({"install", (other / "evil.bundle").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("verifying the bundle's metadata"), std::string::npos) << r.err;
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
}

// ferryd killed at each named point of the switch and the trial, then started again: the device
// ends on the previous good revision, the interrupted one is marked bad, one container runs.
class CrashE2e : public UpdateE2e,
                 public ::testing::WithParamInterface<std::tuple<const char*, bool>> {};

TEST_P(CrashE2e, RestartRollsBackAnInterruptedUpdate) {
  const auto [point, power_cut] = GetParam();
  Release("1.0.0");
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  StartFerryd({{"FERRY_CRASHPOINT", point}});
  auto r = Ferry({"install", Bundle("2.0.0")});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(ferryd_->Wait(30s), 137) << "ferryd should have died at " << point << "\n" << Log();
  if (power_cut) {
    // A power cut ends every process and empties the runtime's tmpfs state.
    for (const auto& id : Containers()) {
      testing::Run({"runc", "--root", (dir_ / "runc").string(), "kill", id, "KILL"});
    }
    std::this_thread::sleep_for(200ms);
    for (const auto& id : Containers()) {
      testing::Run({"runc", "--root", (dir_ / "runc").string(), "delete", "--force", id});
    }
    stdfs::remove_all(dir_ / "runc");
    // And no mount survives it: ferryd must mount the overlay root filesystems again.
    testing::UnmountAllBelow(dir_.path());
  }
  StartFerryd();
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s))
      << "page: " << Page() << "\n"
      << Log();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
  ASSERT_EQ(history["revisions"].size(), 2u);
  EXPECT_TRUE(history["revisions"][1]["bad"].get<bool>()) << history.dump(2);
  EXPECT_EQ(Containers().size(), 1u);
  EXPECT_EQ(stdfs::read_symlink(dir_ / "state/apps/web/current").string().substr(0, 16),
            "revisions/1.0.0-");
  // Converged: a further restart changes nothing.
  ferryd_.reset();
  StartFerryd();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(Page(), "version 1.0.0");
}

INSTANTIATE_TEST_SUITE_P(Points, CrashE2e,
                         ::testing::Combine(::testing::Values("engine.switch.after-journal",
                                                              "engine.switch.after-stop-old",
                                                              "engine.switch.after-start-new",
                                                              "engine.switch.after-link",
                                                              "engine.trial.started",
                                                              "engine.trial.before-commit"),
                                            ::testing::Bool()),
                         [](const auto& param_info) {
                           std::string name = std::get<0>(param_info.param);
                           for (char& c : name) {
                             if (c == '.' || c == '-') {
                               c = '_';
                             }
                           }
                           return name +
                                  (std::get<1>(param_info.param) ? "_PowerCut" : "_ProcessCrash");
                         });

}  // namespace
}  // namespace ferry
