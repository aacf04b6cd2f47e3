// Ferry's runtime against the real runc: containers from a busybox rootfs, checked from inside.
#include <signal.h>

#include <map>
#include <sstream>

#include "ferry/core/fs.hpp"
#include "runc_fixture.hpp"
#include "support/process.hpp"

namespace ferry::runtime::e2e {
namespace {

using namespace std::chrono_literals;

// Docker's default 14 capabilities as a /proc/self/status mask.
constexpr const char* kDefaultCapMask = "00000000a80425fb";

// "Key:\tvalue" lines of /proc/self/status (or anything printed that way) → map.
std::map<std::string, std::string> Fields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    const auto eq = line.find('=');
    const auto sep = std::min(colon, eq);
    if (sep == std::string::npos) {
      continue;
    }
    std::string value = line.substr(sep + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    out[line.substr(0, sep)] = value;
  }
  return out;
}

TEST_F(RuncTest, HttpdContainerServesItsPage) {
  const int port = FreePort();
  ASSERT_GT(port, 0);
  Run("web-r1",
      Spec("r1", {"/bin/httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", "/www"}));
  std::optional<std::string> page;
  ASSERT_TRUE(ferry::testing::WaitFor([&] {
    page = HttpGet(port, "/index.html");
    return page.has_value();
  })) << "httpd did not answer on port "
      << port << "; log: " << ReadLog("r1");
  EXPECT_NE(page->find("200 OK"), std::string::npos) << *page;
  EXPECT_NE(page->find("hello from ferry"), std::string::npos) << *page;
  auto state = runtime_->State("web-r1");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, ContainerStatus::kRunning);
  EXPECT_GT(state->pid, 0);
  EXPECT_FALSE(state->exit_code);
}

// A power cut during `runc create` leaves runc's O_EXCL temp pid file behind. It must not keep
// the app from ever starting again.
TEST_F(RuncTest, StalePidFilesOfAnInterruptedCreateDoNotStopTheNextStart) {
  const auto bundle = dir_ / "bundles" / "stale-r1";
  std::filesystem::create_directories(bundle);
  std::filesystem::create_directories(config_.root);
  for (const auto& stale : {bundle / ".container.pid", bundle / "container.pid",
                            config_.root / ".stale-r1.pid", config_.root / "stale-r1.pid"}) {
    ASSERT_TRUE(fs::WriteFileAtomic(stale, "4242", 0644));
  }
  Run("stale-r1", Spec("r1", {"/bin/sh", "-c", "echo started; sleep 100"}));
  auto state = runtime_->State("stale-r1");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->status, ContainerStatus::kRunning);
  EXPECT_NE(state->pid, 4242);
  EXPECT_FALSE(std::filesystem::exists(bundle / ".container.pid"))
      << "runc's pid files live outside the persistent bundle";
}

TEST_F(RuncTest, ExitStatusOfAnExitedContainerIsReported) {
  Run("exit-r1", Spec("r1", {"/bin/sh", "-c", "echo bye; exit 3"}));
  const auto state = WaitStopped("exit-r1");
  ASSERT_TRUE(state.exit_code);
  EXPECT_EQ(*state.exit_code, 3);
  EXPECT_NE(ReadLog("r1").find("bye"), std::string::npos);
}

TEST_F(RuncTest, IsolationSeenFromInside) {
  const std::string script = R"(
grep -E '^(CapEff|CapBnd|CapPrm|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
if touch /written 2>/dev/null; then echo root=writable; else echo root=readonly; fi
if touch /tmp/written; then echo tmp=writable; else echo tmp=readonly; fi
if touch /run/written; then echo run=writable; else echo run=readonly; fi
unshare -U true 2>&1; echo unshare_rc=$?
mount -t tmpfs none /mnt 2>&1; echo mount_rc=$?
echo kcore_bytes=$(head -c 16 /proc/kcore | wc -c)
if echo 1 > /proc/sys/vm/drop_caches; then echo procsys=writable; else echo procsys=readonly; fi
echo mem_limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)
echo pids_limit=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)
echo cpu_quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)
echo uid=$(id -u)
)";
  Run("iso-r1", Spec("r1", {"/bin/sh", "-c", script}));
  const auto state = WaitStopped("iso-r1");
  const std::string log = ReadLog("r1");
  const auto f = Fields(log);
  EXPECT_EQ(f.at("CapEff"), kDefaultCapMask) << log;
  EXPECT_EQ(f.at("CapBnd"), kDefaultCapMask) << log;
  EXPECT_EQ(f.at("CapPrm"), kDefaultCapMask) << log;
  EXPECT_EQ(f.at("CapInh"), "0000000000000000") << log;
  EXPECT_EQ(f.at("CapAmb"), "0000000000000000") << log;
  EXPECT_EQ(f.at("NoNewPrivs"), "1") << log;
  EXPECT_EQ(f.at("Seccomp"), "2") << log;  // filter mode
  EXPECT_EQ(f.at("root"), "readonly") << log;
  EXPECT_EQ(f.at("tmp"), "writable") << log;
  EXPECT_EQ(f.at("run"), "writable") << log;
  // A user namespace needs no capability: only the seccomp filter refuses it.
  EXPECT_NE(log.find("Operation not permitted"), std::string::npos) << log;
  EXPECT_EQ(f.at("unshare_rc"), "1") << log;
  EXPECT_NE(f.at("mount_rc"), "0") << log;
  EXPECT_EQ(f.at("kcore_bytes"), "0") << log;
  EXPECT_EQ(f.at("procsys"), "readonly") << log;
  EXPECT_EQ(f.at("mem_limit"), std::to_string(64u << 20)) << log;
  EXPECT_EQ(f.at("pids_limit"), "64") << log;
  EXPECT_EQ(f.at("cpu_quota"), "50000") << log;  // half a CPU
  EXPECT_EQ(f.at("uid"), "0") << log;
  ASSERT_TRUE(state.exit_code);
  EXPECT_EQ(*state.exit_code, 0) << log;
}

TEST_F(RuncTest, NonRootImageUserHasNoEffectiveCapabilities) {
  auto spec = Spec(
      "r1", {"/bin/sh", "-c", "grep -E '^(CapEff|CapBnd):' /proc/self/status; echo uid=$(id -u)"});
  spec.uid = 1000;
  spec.gid = 1000;
  Run("user-r1", spec);
  WaitStopped("user-r1");
  const std::string log = ReadLog("r1");
  const auto f = Fields(log);
  EXPECT_EQ(f.at("CapEff"), "0000000000000000") << log;
  EXPECT_EQ(f.at("CapBnd"), kDefaultCapMask) << log;
  EXPECT_EQ(f.at("uid"), "1000") << log;
}

TEST_F(RuncTest, FewerCapabilitiesWhenAsked) {
  auto spec = Spec("r1", {"/bin/sh", "-c", "grep -E '^CapEff:' /proc/self/status"});
  spec.capabilities = std::vector<std::string>{"NET_BIND_SERVICE"};
  Run("caps-r1", spec);
  WaitStopped("caps-r1");
  EXPECT_EQ(Fields(ReadLog("r1")).at("CapEff"), "0000000000000400") << ReadLog("r1");
}

TEST_F(RuncTest, ExecRunsInsideWithTheSameRestrictions) {
  Run("exec-r1", Spec("r1", {"/bin/sleep", "60"}));
  auto ok = runtime_->Exec("exec-r1",
                           {"/bin/sh", "-c", "echo inside; grep CapEff /proc/self/status"}, 5s);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_NE(ok->output.find("inside"), std::string::npos) << ok->output;
  EXPECT_NE(ok->output.find(kDefaultCapMask), std::string::npos) << ok->output;

  auto failed = runtime_->Exec("exec-r1", {"/bin/sh", "-c", "echo broken >&2; exit 7"}, 5s);
  ASSERT_TRUE(failed) << failed.error().message();
  EXPECT_EQ(failed->exit_code, 7);
  EXPECT_NE(failed->output.find("broken"), std::string::npos);

  const auto start = std::chrono::steady_clock::now();
  auto slow = runtime_->Exec("exec-r1", {"/bin/sleep", "30"}, 300ms);
  ASSERT_TRUE(slow) << slow.error().message();
  EXPECT_TRUE(slow->timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // The timed-out command was killed inside the container (a zombie of the first process at most).
  auto ps =
      runtime_->Exec("exec-r1", {"/bin/sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"}, 5s);
  ASSERT_TRUE(ps);
  EXPECT_NE(ps->output.find("sleep 60"), std::string::npos) << ps->output;
  EXPECT_EQ(ps->output.find("sleep 30"), std::string::npos) << ps->output;
}

TEST_F(RuncTest, ExecInStoppedContainerFails) {
  Run("done-r1", Spec("r1", {"/bin/true"}));
  WaitStopped("done-r1");
  auto r = runtime_->Exec("done-r1", {"/bin/true"}, 5s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("stopped"), std::string::npos) << r.error().message();
}

TEST_F(RuncTest, StopEndsAContainerThatHonoursSigterm) {
  Run("term-r1", Spec("r1", {"/bin/sh", "-c",
                             "trap 'echo got-term; exit 0' TERM; echo ready; "
                             "while true; do sleep 0.1; done"}));
  ASSERT_TRUE(
      ferry::testing::WaitFor([&] { return ReadLog("r1").find("ready") != std::string::npos; }));
  const auto start = std::chrono::steady_clock::now();
  auto stopped = runtime_->Stop("term-r1", 10s);
  ASSERT_TRUE(stopped) << stopped.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_NE(ReadLog("r1").find("got-term"), std::string::npos);
  auto state = runtime_->State("term-r1");
  ASSERT_FALSE(state);
  EXPECT_TRUE(state.error().Is(RuntimeErrc::kNoSuchContainer)) << state.error().message();
}

TEST_F(RuncTest, StopFallsBackToSigkillAfterGrace) {
  Run("stubborn-r1",
      Spec("r1", {"/bin/sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"}));
  ASSERT_TRUE(
      ferry::testing::WaitFor([&] { return ReadLog("r1").find("ready") != std::string::npos; }));
  const auto start = std::chrono::steady_clock::now();
  auto stopped = runtime_->Stop("stubborn-r1", 700ms);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(stopped) << stopped.error().message();
  EXPECT_GE(took, 700ms);
  EXPECT_LT(took, 8s);
  auto state = runtime_->State("stubborn-r1");
  ASSERT_FALSE(state);
  EXPECT_TRUE(state.error().Is(RuntimeErrc::kNoSuchContainer));
  // Stopping what is gone succeeds, so recovery can call it blindly.
  EXPECT_TRUE(runtime_->Stop("stubborn-r1", 100ms));
}

TEST_F(RuncTest, LogsAreCapturedAndBounded) {
  config_.log_max_bytes = 64u << 10;
  runtime_.emplace(config_);
  Run("chatty-r1", Spec("r1", {"/bin/sh", "-c",
                               "i=0; while [ $i -lt 20000 ]; do echo \"line $i\"; i=$((i+1)); "
                               "done; echo last >&2"}));
  WaitStopped("chatty-r1", 60s);
  ASSERT_TRUE(runtime_->RotateLogs());
  const auto log = config_.log_dir / "demo" / "r1.log";
  const auto rotated = config_.log_dir / "demo" / "r1.log.1";
  // Rotation also ran at State calls while the container wrote: each file stays within the bound,
  // the oldest lines are gone, and the newest are all there.
  EXPECT_LE(std::filesystem::file_size(log), 64u << 10);
  EXPECT_LE(std::filesystem::file_size(rotated), 64u << 10);
  const std::string kept = *fs::ReadFile(rotated) + *fs::ReadFile(log);
  EXPECT_EQ(kept.find("line 0\n"), std::string::npos);
  EXPECT_TRUE(kept.ends_with("line 19998\nline 19999\nlast\n")) << kept.substr(kept.size() - 40);
  EXPECT_LT(kept.size(), 20000u * 8);  // what the container wrote is far more than what is kept
  EXPECT_EQ(runtime_->LogPath("chatty-r1"), log);
}

TEST_F(RuncTest, TheLogThreadBoundsLogsWithoutAnyCall) {
  config_.log_max_bytes = 16u << 10;
  config_.log_check_interval = std::chrono::milliseconds(50);
  runtime_.emplace(config_);
  Run("bg-r1", Spec("r1", {"/bin/sh", "-c",
                           "i=0; while [ $i -lt 20000 ]; do echo \"line $i\"; i=$((i+1)); "
                           "done; echo done; exec sleep 600"}));
  const auto log = config_.log_dir / "demo" / "r1.log";
  const auto rotated = config_.log_dir / "demo" / "r1.log.1";
  // No State calls here: only the runtime's own thread rotates.
  ASSERT_TRUE(ferry::testing::WaitFor(
      [&] {
        std::error_code ec;
        const auto log_size = std::filesystem::file_size(log, ec);
        const auto old_size = std::filesystem::file_size(rotated, ec);
        const std::string tail = fs::ReadFile(rotated).value_or(std::string()) +
                                 fs::ReadFile(log).value_or(std::string());
        return !ec && log_size <= (16u << 10) && old_size <= (16u << 10) &&
               tail.ends_with("line 19999\ndone\n");
      },
      std::chrono::seconds(60)));
}

TEST_F(RuncTest, VolumesPersistAcrossRevisions) {
  auto spec = Spec("r1", {"/bin/sh", "-c", "echo kept > /data/file"});
  spec.volumes = {{"appdata", "/data", false}};
  Run("vol-r1", spec);
  WaitStopped("vol-r1");
  const auto host_dir = config_.state_dir / "volumes" / "demo" / "appdata";
  EXPECT_EQ(*fs::ReadFile(host_dir / "file"), "kept\n");

  auto next = Spec("r2", {"/bin/sh", "-c", "cat /data/file; touch /data/ro 2>&1; echo rc=$?"});
  next.volumes = {{"appdata", "/data", true}};
  Run("vol-r2", next);
  WaitStopped("vol-r2");
  const std::string log = ReadLog("r2");
  EXPECT_NE(log.find("kept"), std::string::npos) << log;
  EXPECT_NE(log.find("Read-only file system"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(host_dir / "ro"));
}

TEST_F(RuncTest, RuntimeErrorsCarryRuncsMessage) {
  auto start = runtime_->Start("missing");
  ASSERT_FALSE(start);
  EXPECT_TRUE(start.error().Is(RuntimeErrc::kNoSuchContainer));
  EXPECT_NE(start.error().message().find("container does not exist"), std::string::npos)
      << start.error().message();

  auto spec = Spec("r1", {"/bin/no-such-program"});
  ids_.push_back("bad-r1");
  auto created = runtime_->Create("bad-r1", spec, dir_ / "bundles" / "bad-r1");
  ASSERT_FALSE(created);
  EXPECT_TRUE(created.error().Is(RuntimeErrc::kRuntimeFailed));
  EXPECT_NE(created.error().message().find("no-such-program"), std::string::npos)
      << created.error().message();

  auto refused = Spec("r1", {"/bin/true"});
  refused.capabilities = std::vector<std::string>{"SYS_ADMIN"};
  auto r = runtime_->Create("refused-r1", refused, dir_ / "bundles" / "refused-r1");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(RuntimeErrc::kRefused));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "bundles" / "refused-r1" / "config.json"));
}

TEST_F(RuncTest, ARestartedRuntimeFindsAndStopsARunningContainer) {
  Run("old-r1", Spec("r1", {"/bin/sleep", "600"}));
  runtime_.emplace(config_);  // as after a restart of ferryd: nothing tracked in memory
  auto state = runtime_->State("old-r1");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->status, ContainerStatus::kRunning);
  // sleep as pid 1 has no SIGTERM handler, so the kernel drops SIGTERM: SIGKILL after the grace.
  auto stopped = runtime_->Stop("old-r1", 300ms);
  ASSERT_TRUE(stopped) << stopped.error().message();
  auto gone = runtime_->State("old-r1");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(gone.error().Is(RuntimeErrc::kNoSuchContainer));
}

TEST_F(RuncTest, DeleteOfUnknownContainerSucceeds) { EXPECT_TRUE(runtime_->Delete("never-was")); }

}  // namespace
}  // namespace ferry::runtime::e2e
