// RuncRuntime's own checks, which need no runc: the e2e suite drives the real one.
#include "ferry/runtime/runc_runtime.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <thread>

#include "support/temp_dir.hpp"

namespace ferry::runtime {
namespace {

RuncConfig Config(const testing::TempDir& dir, std::filesystem::path binary) {
  RuncConfig c;
  c.binary = std::move(binary);
  c.root = dir / "root";
  c.state_dir = dir / "state";
  c.log_dir = dir / "logs";
  c.log_check_interval = std::chrono::milliseconds(0);
  return c;
}

ContainerSpec Spec(const testing::TempDir& dir) {
  ContainerSpec spec;
  spec.app = "demo";
  spec.revision = "r1";
  spec.rootfs = dir / "rootfs";
  spec.args = {"/bin/true"};
  return spec;
}

TEST(RuncRuntime, RefusesIdsThatRuncCouldReadAsOptions) {
  testing::TempDir dir;
  RuncRuntime runtime(Config(dir, "/bin/false"));
  for (const char* id : {"", "-h", "--root=/", "a b", "a/b", "../x"}) {
    auto r = runtime.Create(id, Spec(dir), dir / "bundle");
    ASSERT_FALSE(r) << id;
    EXPECT_TRUE(r.error().Is(RuntimeErrc::kInvalidSpec)) << id;
    EXPECT_FALSE(runtime.State(id));
    EXPECT_FALSE(runtime.Kill(id, 15));
    EXPECT_FALSE(runtime.Delete(id));
    EXPECT_FALSE(runtime.Exec(id, {"/bin/true"}, std::chrono::seconds(1)));
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "bundle"));
}

TEST(RuncRuntime, MissingRuntimeBinaryIsASpawnError) {
  testing::TempDir dir;
  RuncRuntime runtime(Config(dir, dir / "no-runc"));
  auto r = runtime.State("demo-r1");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(RuntimeErrc::kSpawnFailed)) << r.error().message();
  EXPECT_NE(r.error().message().find("no-runc"), std::string::npos) << r.error().message();
}

TEST(RuncRuntime, RuntimeErrorsCarryItsMessage) {
  testing::TempDir dir;
  // A stand-in runtime that fails the way runc does: logrus text on stderr, exit 1.
  const auto fake = dir / "fake-runc";
  {
    std::FILE* f = std::fopen(fake.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(
        "#!/bin/sh\necho 'time=\"x\" level=error msg=\"cgroup \\\"pids\\\" unavailable\"' >&2\n"
        "exit 1\n",
        f);
    std::fclose(f);
    std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  }
  RuncRuntime runtime(Config(dir, fake));
  auto r = runtime.Start("demo-r1");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(RuntimeErrc::kRuntimeFailed));
  EXPECT_EQ(r.error().message(), "fake-runc start demo-r1: cgroup \"pids\" unavailable");
  auto k = runtime.Kill("demo-r1", 15);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().message(), "fake-runc kill demo-r1: cgroup \"pids\" unavailable");
}

TEST(RuncRuntime, ACommandRunningWhenFerrydStopsIsKilledAndReaped) {
  testing::TempDir dir;
  // A runtime that hangs: it says its pid and sleeps.
  const auto fake = dir / "hanging-runc";
  const auto pid_file = dir / "pid";
  {
    std::FILE* f = std::fopen(fake.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\nexec sleep 30\n",
                 pid_file.c_str(), pid_file.c_str(), pid_file.c_str());
    std::fclose(f);
    std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  }
  CancelToken stop;
  RuncConfig config = Config(dir, fake);
  config.cancel = &stop;
  RuncRuntime runtime(config);
  std::thread stopper([&] {
    while (!std::filesystem::exists(pid_file)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop.Cancel();
  });
  const auto started = std::chrono::steady_clock::now();
  auto r = runtime.Start("demo-r1");
  const auto took = std::chrono::steady_clock::now() - started;
  stopper.join();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(Errc::kCancelled)) << r.error().message();
  EXPECT_EQ(r.error().message(), "hanging-runc start demo-r1: ferryd is stopping");
  EXPECT_LT(took, std::chrono::seconds(1));
  std::ifstream in(pid_file);
  int pid = 0;
  ASSERT_TRUE(in >> pid);
  EXPECT_NE(::kill(pid, 0), 0) << "the runtime process is still there";
  EXPECT_EQ(errno, ESRCH) << "killed and reaped, not a zombie";
  // Every later call is refused at once.
  std::filesystem::remove(pid_file);
  auto later = runtime.Kill("demo-r1", 15);
  ASSERT_FALSE(later);
  EXPECT_TRUE(later.error().Is(Errc::kCancelled)) << later.error().message();
}

}  // namespace
}  // namespace ferry::runtime
