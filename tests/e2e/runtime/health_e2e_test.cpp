// Health trials of real containers under runc, on the real clock.
#include "ferry/health/health_checker.hpp"
#include "runc_fixture.hpp"
#include "support/process.hpp"

namespace ferry::runtime::e2e {
namespace {

using namespace std::chrono_literals;
using health::HealthChecker;
using health::RealSleeper;
using manifest::HealthCheck;
using manifest::ParseHealthCheck;

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  TimerId After(Duration, std::function<void()>) override { return 0; }
  void Cancel(TimerId) override {}
};

class HealthE2eTest : public RuncTest {
 protected:
  HealthCheck Check(const std::string& json) {
    auto c = ParseHealthCheck(nlohmann::json::parse(json));
    EXPECT_TRUE(c) << c.error().message();
    return c ? *c : HealthCheck{};
  }
  SteadyClock clock_;
  RealSleeper sleeper_;
};

TEST_F(HealthE2eTest, HttpCheckPassesAgainstHttpd) {
  const int port = FreePort();
  Run("web-r1",
      Spec("r1", {"/bin/httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", "/www"}));
  HealthChecker checker(clock_, sleeper_, *runtime_);
  const auto r = checker.Run(
      Check(
          R"({"kind":"http","url":"http://127.0.0.1:)" + std::to_string(port) +
          R"(/index.html","expect_status":[200,299],"interval_s":0.2,"timeout_s":2,"successes":2,"deadline_s":20})"),
      "web-r1");
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_TRUE(r.last_output.ends_with(" 200 OK")) << r.last_output;
}

TEST_F(HealthE2eTest, HttpCheckFailsOnMissingPage) {
  const int port = FreePort();
  Run("web-r1",
      Spec("r1", {"/bin/httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", "/www"}));
  HealthChecker checker(clock_, sleeper_, *runtime_);
  const auto r = checker.Run(
      Check(R"({"kind":"http","url":"http://127.0.0.1:)" + std::to_string(port) +
            R"(/missing","interval_s":0.2,"failures":2,"start_period_s":1,"deadline_s":20})"),
      "web-r1");
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("HTTP status 404"), std::string::npos) << r.reason;
}

TEST_F(HealthE2eTest, ContainerThatExitsAtOnceFailsTheProcessCheckWithItsStatus) {
  Run("crash-r1", Spec("r1", {"/bin/sh", "-c", "echo starting; exit 42"}));
  HealthChecker checker(clock_, sleeper_, *runtime_);
  const auto start = std::chrono::steady_clock::now();
  const auto r = checker.Run(Check(R"({"kind":"process","up_s":10,"deadline_s":20})"), "crash-r1");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.reason, "container exited with status 42");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // at once, not at the deadline
}

TEST_F(HealthE2eTest, ProcessCheckPassesForAContainerThatStaysUp) {
  Run("steady-r1", Spec("r1", {"/bin/sleep", "60"}));
  HealthChecker checker(clock_, sleeper_, *runtime_);
  const auto r = checker.Run(Check(R"({"kind":"process","up_s":1.5})"), "steady-r1");
  EXPECT_TRUE(r.passed) << r.reason;
}

TEST_F(HealthE2eTest, ExecCheckRunsInsideTheContainer) {
  Run("exec-r1", Spec("r1", {"/bin/sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 60"}));
  HealthChecker checker(clock_, sleeper_, *runtime_);
  const auto r = checker.Run(
      Check(R"({"kind":"exec","command":["/bin/sh","-c","test -e /tmp/ready && echo ready"],
               "interval_s":0.2,"deadline_s":20})"),
      "exec-r1");
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(r.last_output, "ready");
  EXPECT_GT(r.probes, 1);  // the first probes ran before the file existed

  const auto failing = checker.Run(
      Check(R"({"kind":"exec","command":["/bin/sh","-c","echo sick; exit 3"],"interval_s":0.2,
               "failures":2,"deadline_s":20})"),
      "exec-r1");
  EXPECT_FALSE(failing.passed);
  EXPECT_EQ(failing.last_output, "command exited with status 3: sick");
}

TEST_F(HealthE2eTest, TcpCheckPassesAgainstAListeningApp) {
  const int port = FreePort();
  Run("tcp-r1",
      Spec("r1", {"/bin/httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", "/www"}));
  HealthChecker checker(clock_, sleeper_, *runtime_);
  const auto r = checker.Run(Check(R"({"kind":"tcp","port":)" + std::to_string(port) +
                                   R"(,"interval_s":0.2,"deadline_s":20})"),
                             "tcp-r1");
  EXPECT_TRUE(r.passed) << r.reason;
}

}  // namespace
}  // namespace ferry::runtime::e2e
