// Phased rollouts across several devices: each a real ferryd with its own state directory and
// runc root on this host, polling one ferry-server. A bad release stops spreading by itself; the
// operator pauses, resumes, promotes and aborts; a device that was away catches up and reports
// what it did meanwhile, in order. Needs root, runc and busybox-static.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "device_lab.hpp"
#include "ferry/core/fs.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

struct Device {
  std::string id;
  stdfs::path dir;
  std::unique_ptr<testing::Child> ferryd;
};

class RolloutE2e : public testing::DeviceLab {
 protected:
  void TearDown() override {
    for (auto& d : devices_) {
      d->ferryd.reset();
      auto list = testing::Run({"runc", "--root", (d->dir / "runc").string(), "list", "-q"});
      std::istringstream in(list.out);
      for (std::string id; std::getline(in, id);) {
        if (!id.empty()) {
          testing::Run({"runc", "--root", (d->dir / "runc").string(), "delete", "--force", id});
        }
      }
    }
    DeviceLab::TearDown();
  }

  Device& AddDevice(const std::string& id, const std::vector<std::string>& tags = {"lab"}) {
    auto d = std::make_unique<Device>();
    d->id = id;
    d->dir = dir_ / id;
    stdfs::create_directories(d->dir);
    Provision(id, d->dir / "token", tags);
    const std::string config =
        "state_dir = \"" + (d->dir / "state").string() + "\"\nsocket = \"" +
        (d->dir / "ferryd.sock").string() + "\"\ntrusted_root = \"" +
        (Repo() / "metadata/1.root.json").string() + "\"\nserver_url = \"" + ServerUrl() +
        "\"\ndevice_token_file = \"" + (d->dir / "token").string() +
        "\"\npoll_interval = \"1s\"\n[runtime]\nroot = \"" + (d->dir / "runc").string() +
        "\"\nstop_timeout = 1\ncgroup_parent = \"/ferry-test/" + id + "\"\n";
    EXPECT_TRUE(fs::WriteFileAtomic(d->dir / "ferryd.toml", config));
    devices_.push_back(std::move(d));
    Start(*devices_.back());
    return *devices_.back();
  }

  void Start(Device& d) {
    d.ferryd = std::make_unique<testing::Child>(
        std::vector<std::string>{testing::BuiltProgram("ferryd"), "--config",
                                 (d.dir / "ferryd.toml").string()},
        std::map<std::string, std::string>{}, d.dir / "ferryd.log");
    ASSERT_TRUE(testing::WaitFor([&] { return At(d, {"status"}).exit_code == 0; }, 30s));
  }

  testing::RunResult At(Device& d, std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BuiltProgram("ferry").string(), "--socket",
                               (d.dir / "ferryd.sock").string()});
    return testing::Run(args);
  }

  std::string VersionOf(Device& d) {
    auto r = At(d, {"--json", "status"});
    if (r.exit_code != 0) {
      return "";
    }
    Json s = Json::parse(r.out);
    if (s["apps"].empty() || s["apps"][0]["current"].is_null()) {
      return "";
    }
    return s["apps"][0]["current"]["version"];
  }

  std::size_t RevisionsOf(Device& d) {
    auto r = At(d, {"--json", "history", "web"});
    return r.exit_code == 0 ? Json::parse(r.out)["revisions"].size() : 0;
  }

  Json Deployment(const std::string& id) {
    auto r = Admin({"--json", "deploy", "status", id});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? Json::parse(r.out)["deployment"] : Json();
  }

  std::string Deploy(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "deploy", "create", "--app", "web"});
    auto r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? Json::parse(r.out)["deployment"]["id"].get<std::string>() : "";
  }

  bool Count(const std::string& deployment, const std::string& state, int n) {
    return testing::WaitFor([&] { return Deployment(deployment)["counts"].value(state, -1) == n; },
                            90s);
  }

  std::string Logs() {
    std::string out;
    for (auto& d : devices_) {
      auto t = fs::ReadFile(d->dir / "ferryd.log");
      out += "--- " + d->id + "\n" + (t ? *t : "");
    }
    return out;
  }

  std::vector<std::unique_ptr<Device>> devices_;
};

TEST_F(RolloutE2e, ABadReleaseStopsSpreadingByItselfAndAGoodOneAdvancesPhaseByPhase) {
  Release("1.0.0", "idle");
  Release("2.0.0", "idle-crashes");
  Release("3.0.0", "idle");
  StartServer(true);
  for (const char* id : {"dev-a", "dev-b", "dev-c", "dev-d"}) {
    AddDevice(id);
  }
  const std::string d1 = Deploy({"--version", "1.0.0", "--tag", "lab"});
  ASSERT_TRUE(Count(d1, "committed", 4)) << Deployment(d1).dump(2) << Logs();

  // The first phase (one device of four) fails: the deployment pauses itself, and the three
  // others never see 2.0.0.
  const std::string d2 = Deploy({"--version", "2.0.0", "--tag", "lab", "--phases", "25,100",
                                 "--phase-wait", "1s", "--max-failure-ratio", "0"});
  ASSERT_TRUE(Count(d2, "rolled-back", 1)) << Deployment(d2).dump(2) << Logs();
  ASSERT_TRUE(testing::WaitFor([&] { return Deployment(d2)["state"] == "paused"; }, 10s))
      << Deployment(d2).dump(2);
  // Several polls of every device seen by the server (each polls every second: three per
  // device, and the last one's poll interval for what the earlier ones started to show).
  const std::size_t polls = ServerRequests("GET", "/v1/device/assignment");
  ASSERT_TRUE(
      WaitForServerRequests("GET", "/v1/device/assignment", polls, 4 * devices_.size(), 30s));
  Json paused = Deployment(d2);
  EXPECT_EQ(paused["state"], "paused") << paused.dump(2);
  EXPECT_EQ(paused["released"], 1) << paused.dump(2);
  int on_one = 0;
  int tried_two = 0;
  for (auto& d : devices_) {
    on_one += VersionOf(*d) == "1.0.0";
    tried_two += RevisionsOf(*d) == 2;
  }
  EXPECT_EQ(on_one, 4) << "the failed device is back on 1.0.0 too\n" << Logs();
  EXPECT_EQ(tried_two, 1) << Logs();

  ASSERT_EQ(Admin({"deploy", "abort", d2}).exit_code, 0);
  EXPECT_EQ(Deployment(d2)["state"], "aborted");

  // A good release in three phases, released one after the other by the server.
  const std::string d3 =
      Deploy({"--version", "3.0.0", "--tag", "lab", "--phases", "25,50,100", "--phase-wait", "1s"});
  ASSERT_TRUE(Count(d3, "committed", 4)) << Deployment(d3).dump(2) << Logs();
  Json done = Deployment(d3);
  EXPECT_EQ(done["current_phase"], 2) << done.dump(2);
  for (auto& d : devices_) {
    EXPECT_EQ(VersionOf(*d), "3.0.0") << d->id;
  }
}

TEST_F(RolloutE2e, PauseResumeAndPromoteByHand) {
  Release("1.0.0", "idle");
  StartServer(true);
  for (const char* id : {"dev-a", "dev-b"}) {
    AddDevice(id);
  }
  // No phase wait: the second phase is released only by promote.
  const std::string d1 = Deploy({"--version", "1.0.0", "--tag", "lab", "--phases", "50,100"});
  ASSERT_TRUE(Count(d1, "committed", 1)) << Deployment(d1).dump(2) << Logs();
  ASSERT_EQ(Admin({"deploy", "pause", d1, "--reason", "looking at the first device"}).exit_code, 0);
  EXPECT_NE(Admin({"deploy", "promote", d1}).exit_code, 0) << "a paused deployment is not promoted";
  ASSERT_EQ(Admin({"deploy", "resume", d1}).exit_code, 0);
  ASSERT_EQ(Admin({"deploy", "promote", d1}).exit_code, 0);
  ASSERT_TRUE(Count(d1, "committed", 2)) << Deployment(d1).dump(2) << Logs();
}

TEST_F(RolloutE2e, ADeviceAwayCatchesUpAndReportsWhatItDidInOrder) {
  Release("1.0.0", "idle");
  Release("2.0.0", "idle");
  StartServer(true);
  Device& away = AddDevice("dev-away");
  // Installed by hand from a USB stick while the device is off the network: its events wait in
  // the outbox.
  away.ferryd.reset();
  const std::string config_ok = *fs::ReadFile(away.dir / "ferryd.toml");
  std::string offline = config_ok;
  offline.replace(offline.find(ServerUrl()), ServerUrl().size(), "http://127.0.0.1:9");
  ASSERT_TRUE(fs::WriteFileAtomic(away.dir / "ferryd.toml", offline));
  Start(away);
  auto installed = At(away, {"install", Bundle("1.0.0")});
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  const std::string d2 = Deploy({"--version", "2.0.0", "--device", "dev-away"});
  // Two polls that could not reach the server, seen in the device's log.
  const auto failed_polls = [&] {
    const std::string log = fs::ReadFile(away.dir / "ferryd.log").value_or("");
    std::size_t n = 0;
    for (auto at = log.find("fleet server http://127.0.0.1:9"); at != std::string::npos;
         at = log.find("fleet server http://127.0.0.1:9", at + 1)) {
      ++n;
    }
    return n;
  };
  const std::size_t failed_before = failed_polls();
  ASSERT_TRUE(testing::WaitFor([&] { return failed_polls() >= failed_before + 2; }, 30s))
      << fs::ReadFile(away.dir / "ferryd.log").value_or("");
  EXPECT_EQ(VersionOf(away), "1.0.0");
  EXPECT_EQ(Deployment(d2)["counts"].value("pending", 0), 1);

  // Back on the network: it reports the offline install, then takes 2.0.0, all in order.
  away.ferryd.reset();
  ASSERT_TRUE(fs::WriteFileAtomic(away.dir / "ferryd.toml", config_ok));
  Start(away);
  ASSERT_TRUE(Count(d2, "committed", 1)) << Deployment(d2).dump(2) << Logs();
  EXPECT_EQ(VersionOf(away), "2.0.0");
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto show = Admin({"--json", "devices", "show", "dev-away"});
        return show.exit_code == 0 && Json::parse(show.out)["events"].size() >= 8;
      },
      20s));
  Json events = Json::parse(Admin({"--json", "devices", "show", "dev-away"}).out)["events"];
  std::vector<std::pair<std::int64_t, std::string>> seen;
  for (const auto& e : events) {
    seen.emplace_back(e["sequence"].get<std::int64_t>(),
                      e["kind"].get<std::string>() + " " + e.value("version", ""));
  }
  std::sort(seen.begin(), seen.end());
  std::vector<std::string> kinds;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    kinds.push_back(seen[i].second);
    if (i > 0) {
      EXPECT_EQ(seen[i].first, seen[i - 1].first + 1) << "no event lost";
    }
  }
  const std::vector<std::string> expected = {
      "staging 1.0.0", "switching 1.0.0", "trial 1.0.0", "committed 1.0.0", "downloading 2.0.0",
      "staging 2.0.0", "switching 2.0.0", "trial 2.0.0", "committed 2.0.0"};
  EXPECT_EQ(kinds, expected) << events.dump(2);
}

}  // namespace
}  // namespace ferry
