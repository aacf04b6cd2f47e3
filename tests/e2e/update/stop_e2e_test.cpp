// Issue #15 item 6, #16: `systemctl stop ferryd` takes effect within a second, whatever ferryd is
// doing, and leaves a state that the next start resumes or cleans. And `ferry install` follows an
// install to its outcome, however long it takes. Real runc, real binaries; needs root.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "device_lab.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

// The rule: ferryd exits within 1 s of SIGTERM, at any step.
constexpr auto kStopBound = 1000ms;

class StopE2e : public testing::DeviceLab {
 protected:
  // Sends SIGTERM and returns how long ferryd took to exit; expects exit status 0.
  std::chrono::milliseconds Terminate(const std::string& during) {
    const auto sent = std::chrono::steady_clock::now();
    ferryd_->Signal(SIGTERM);
    const int status = ferryd_->Wait(30s);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - sent);
    std::cout << "[ stop time ] ferryd exited " << took.count() << " ms after SIGTERM during "
              << during << "\n";
    EXPECT_EQ(status, 0) << Log();
    EXPECT_LT(took, kStopBound) << "during " << during << "\n" << Log();
    return took;
  }

  bool LogSays(const std::string& text) { return Log().find(text) != std::string::npos; }

  // What the next start must show after a stopped install of 2.0.0 over 1.0.0: 1.0.0 serving, the
  // interrupted revision (if the engine had begun it) not held against the release, and the
  // oracle finding every invariant holding (no staging leftovers, the unpacked bundle removed).
  void ExpectConvergedOnTheOldVersion(bool engine_began) {
    StartFerryd();
    ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s))
        << "page: " << Page() << "\n"
        << Log();
    // The page answers as soon as recovery has started 1.0.0 again, before it has recorded the
    // rollback; the oracle waits until recovery is done, and what ferryd says is read after it.
    ExpectOracleHolds();
    EXPECT_EQ(CurrentVersion(), "1.0.0");
    auto history = Json::parse(Ferry({"--json", "history", "web"}).out);
    ASSERT_EQ(history["revisions"].size(), engine_began ? 2u : 1u) << history.dump(2);
    if (engine_began) {
      EXPECT_FALSE(history["revisions"][1]["bad"].get<bool>()) << history.dump(2);
      EXPECT_EQ(history["revisions"][1]["state"], "interrupted") << history.dump(2);
    }
  }
};

// Where SIGTERM comes, by the crash point ferryd pauses at (SIGTERM lets it go on at once).
struct StopPoint {
  const char* name;   // for the test's name
  const char* point;  // FERRY_CRASHPOINT
  const char* during;
  bool engine_began;  // the engine had recorded the revision (past the bundle's unpacking)
  bool switched;      // the new version runs when SIGTERM comes
};

class StopDuringInstallE2e : public StopE2e, public ::testing::WithParamInterface<StopPoint> {};

TEST_P(StopDuringInstallE2e, FerrydExitsWithinASecondAndTheNextStartConverges) {
  const StopPoint& p = GetParam();
  Release("1.0.0");
  payload_bytes_ = 256ull << 20;  // 256 files of 1 MiB in one layer
  deltas_ = false;                // a delta of it would take minutes to publish
  Release("2.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  StartFerryd({{"FERRY_CRASHPOINT", std::string(p.point) + "@pause"}});
  auto install = std::async(std::launch::async, [&] {
    return Ferry({"install", Bundle("2.0.0")});
  });
  const std::string point = std::string(p.point).substr(0, std::string(p.point).find(':'));
  ASSERT_TRUE(
      testing::WaitFor([&] { return LogSays("crash point " + point + " reached: pausing"); }, 120s))
      << Log();
  Terminate(p.during);
  auto r = install.get();
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("ferryd stopped before it finished"), std::string::npos) << r.err;
  if (!p.switched) {
    EXPECT_EQ(Page(), "version 1.0.0") << "the running version was never stopped";
  }
  ExpectConvergedOnTheOldVersion(p.engine_began);
  // Converged: a further restart changes nothing, and the release installs when asked again.
  ferryd_.reset();
  StartFerryd();
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  auto again = Ferry({"install", Bundle("2.0.0")});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
}

INSTANTIATE_TEST_SUITE_P(
    Steps, StopDuringInstallE2e,
    ::testing::Values(
        // The bundle's entries are its metadata and a few blobs; the layer's are 256 files.
        StopPoint{"UnpackingTheBundle", "layers.extract.after-entry:2",
                  "the unpacking of a 256 MiB bundle into incoming/", false, false},
        StopPoint{"UnpackingALargeLayer", "layers.extract.after-entry:100",
                  "the unpacking of a 256 MiB layer", true, false},
        StopPoint{"TheTrial", "engine.trial.started", "the trial", true, true}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// An app that died is started again after a backoff, a timer: SIGTERM does not wait for it, and
// the next start runs the app.
TEST_F(StopE2e, DuringTheSupervisorsBackoff) {
  Release("1.0.0");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  const auto ids = Containers();
  ASSERT_EQ(ids.size(), 1u);
  auto state = testing::Run({"runc", "--root", (dir_ / "runc").string(), "state", ids[0]});
  const int pid = Json::parse(state.out).value("pid", 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitFor([&] { return LogSays("restarting it in"); }, 10s)) << Log();
  Terminate("the supervisor's backoff");
  StartFerryd();
  EXPECT_TRUE(testing::WaitFor([&] { return Page() == "version 1.0.0"; }, 20s)) << Log();
  ExpectOracleHolds();
}

// A delta bundle: 2.0.0's layer is rebuilt from 1.0.0's (32 MiB of it unchanged) by the delta
// decoder while the extractor unpacks it. SIGTERM in the middle of it.
TEST_F(StopE2e, DuringADeltaDecode) {
  payload_bytes_ = 32ull << 20;
  Release("1.0.0");
  Release("2.0.0");
  const std::string delta_bundle = (dir_ / "2.0.0-from-1.0.0.bundle").string();
  auto b = Publish({"bundle", "--repo", Repo().string(), "--app", "web", "--version", "2.0.0",
                    "--base-version", "1.0.0", "--out", delta_bundle});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  ASSERT_LT(stdfs::file_size(delta_bundle), stdfs::file_size(Bundle("2.0.0")) / 4)
      << "the bundle carries a delta, not the layer";
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ferryd_.reset();
  // The delta bundle has fewer than 30 entries; the rebuilt layer has more than 40.
  StartFerryd({{"FERRY_CRASHPOINT", "layers.extract.after-entry:30@pause"}});
  auto install = std::async(std::launch::async, [&] { return Ferry({"install", delta_bundle}); });
  ASSERT_TRUE(testing::WaitFor(
      [&] { return LogSays("crash point layers.extract.after-entry reached: pausing"); }, 60s))
      << Log();
  Terminate("a delta decode");
  EXPECT_EQ(install.get().exit_code, 3);
  EXPECT_FALSE(LogSays("falling back to the full layer")) << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  ExpectConvergedOnTheOldVersion(true);
  auto again = Ferry({"install", delta_bundle});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
}

// The pids of the processes running `/bin/busybox sleep 20` (the slow-probe release's health
// probe) inside this lab's containers, found by their pid namespace.
std::vector<int> ProbeProcesses(const std::filesystem::path& runc_root,
                                const std::vector<std::string>& containers) {
  std::set<std::string> namespaces;
  for (const auto& id : containers) {
    auto state = testing::Run({"runc", "--root", runc_root.string(), "state", id});
    const int pid = state.exit_code == 0 ? Json::parse(state.out).value("pid", 0) : 0;
    std::error_code ec;
    if (pid > 0) {
      namespaces.insert(stdfs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", ec));
    }
  }
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(e.path() / "cmdline");
    const std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    std::error_code ns_ec;
    const std::string probe = std::string("/bin/busybox") + '\0' + "sleep" + '\0' + "20" + '\0';
    if (cmdline == probe && namespaces.contains(stdfs::read_symlink(e.path() / "ns/pid", ns_ec))) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

// A health probe in flight when SIGTERM comes (an exec probe of 20 s, run by runc exec): ferryd
// kills the probe's command and its runc, reaps them, and exits 0 within the second, waiting for
// every step (nothing is abandoned, no probe is left running in the container). The trial is
// interrupted, not failed, and the next start rolls it back.
TEST_F(StopE2e, AHealthProbeInFlightIsKilledNotLeftBehind) {
  Release("1.0.0");
  Release("2.0.0", "slow-probe");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  auto install = std::async(std::launch::async, [&] {
    return Ferry({"install", Bundle("2.0.0")});
  });
  ASSERT_TRUE(testing::WaitFor([&] { return Page() == "version 2.0.0"; }, 60s)) << Log();
  ASSERT_TRUE(
      testing::WaitFor([&] { return !ProbeProcesses(dir_ / "runc", Containers()).empty(); }, 20s))
      << "the probe's `sleep 20` never ran\n"
      << Log();
  const auto containers = Containers();
  Terminate("a health probe in flight");
  EXPECT_FALSE(LogSays("ferryd stopped without waiting")) << Log();
  EXPECT_TRUE(LogSays("ferryd stopped")) << Log();
  EXPECT_EQ(ProbeProcesses(dir_ / "runc", containers), std::vector<int>{})
      << "the probe's command outlived ferryd";
  EXPECT_EQ(install.get().exit_code, 3);
  EXPECT_FALSE(LogSays("health check failed")) << "a killed probe is not a failed one\n" << Log();
  ExpectConvergedOnTheOldVersion(true);
}

// `ferry update` from a repository whose blobs come at 256 KiB/s: SIGTERM in the middle of the
// download. The partial blob stays and the next attempt resumes it.
TEST_F(StopE2e, DuringADownload) {
  Release("1.0.0");
  payload_bytes_ = 32ull << 20;
  Release("2.0.0");
  StartServer(false, {"--fault", "throttle:rate=262144,path=/blobs/*,first=1"});
  StartFerryd({}, "repository_url = \"" + ServerUrl() + "\"\n");
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  auto update = std::async(std::launch::async, [&] { return Ferry({"update", "web", "2.0.0"}); });
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        const Json s = Status();
        if (!s.is_object() || !s["apps"].is_array() || s["apps"].empty()) {
          return false;
        }
        const Json& u = s["apps"][0]["update"];
        return u.is_object() && u.value("step", "") == "downloading" &&
               u.value("bytes_done", std::uint64_t{0}) > (1u << 20);  // a few seconds in
      },
      60s))
      << Log();
  Terminate("a download");
  auto r = update.get();
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("web 2.0.0: downloading"), std::string::npos) << "progress: " << r.err;
  EXPECT_EQ(Page(), "version 1.0.0");
  StartFerryd({}, "repository_url = \"" + ServerUrl() + "\"\n");
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  // Again, without waiting: the download resumes in the background.
  auto again = Ferry({"update", "--no-wait", "web", "2.0.0"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err << Log();
  EXPECT_NE(again.out.find("ferry status"), std::string::npos) << again.out;
  // Committed after its trial (the new version serves from the trial on).
  EXPECT_TRUE(testing::WaitFor([&] { return CurrentVersion() == "2.0.0"; }, 60s)) << Log();
  EXPECT_EQ(Page(), "version 2.0.0");
}

// `ferry install` follows an install to its outcome however long it takes (no 30 s give-up),
// printing its steps; here a trial that lasts 40 s and fails.
TEST_F(StopE2e, InstallFollowsATrialLongerThanThirtySecondsToItsOutcome) {
  Release("1.0.0");
  trial_deadline_s_ = 40;
  Release("2.0.0", "500");
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  const auto started = std::chrono::steady_clock::now();
  auto r = Ferry({"install", Bundle("2.0.0")});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err << Log();
  EXPECT_NE(r.out.find("rolled-back: web 2.0.0"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("web 2.0.0: trial"), std::string::npos) << "progress: " << r.err;
  EXPECT_GT(took, 30s);
  EXPECT_EQ(Page(), "version 1.0.0");
}

// `--no-wait` returns once ferryd accepted the bundle; the install goes on in the background.
TEST_F(StopE2e, InstallWithNoWaitReturnsAtOnceAndTheInstallGoesOn) {
  Release("1.0.0");
  StartFerryd();
  auto r = Ferry({"install", "--no-wait", Bundle("1.0.0")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Log();
  EXPECT_NE(r.out.find("ferry status"), std::string::npos) << r.out;
  EXPECT_TRUE(testing::WaitFor([&] { return CurrentVersion() == "1.0.0"; }, 60s)) << Log();
  EXPECT_EQ(Page(), "version 1.0.0");
  // A bundle ferryd cannot open is refused at once, not accepted.
  auto refused = Ferry({"install", "--no-wait", "/dev/null"});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
}

// ferryd dying meanwhile (not stopping: killed) is said so, with a non-zero exit.
TEST_F(StopE2e, InstallSaysSoWhenFerrydDiesMeanwhile) {
  Release("1.0.0");
  StartFerryd({{"FERRY_CRASHPOINT", "engine.trial.started"}});
  auto r = Ferry({"install", Bundle("1.0.0")});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("ferryd stopped before it finished"), std::string::npos) << r.err;
  EXPECT_EQ(ferryd_->Wait(30s), 137) << Log();
}

}  // namespace
}  // namespace ferry
