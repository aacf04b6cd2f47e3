#include "ferry/manifest/health_check.hpp"

#include <gtest/gtest.h>

namespace ferry::manifest {
namespace {

using nlohmann::json;

TEST(HealthCheckConfig, ParsesTheManifestExample) {
  auto c = ParseHealthCheck(json::parse(R"({"kind":"http","url":"http://127.0.0.1:8080/",
      "expect_status":[200,399],"start_period_s":2,"interval_s":1,"timeout_s":2,"successes":2,
      "deadline_s":30})"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->kind, CheckKind::kHttp);
  EXPECT_EQ(c->url, "http://127.0.0.1:8080/");
  EXPECT_EQ(c->status_min, 200);
  EXPECT_EQ(c->status_max, 399);
  EXPECT_EQ(c->start_period.count(), 2);
  EXPECT_EQ(c->interval.count(), 1);
  EXPECT_EQ(c->timeout.count(), 2);
  EXPECT_EQ(c->successes, 2);
  EXPECT_EQ(c->failures, 0);
  EXPECT_EQ(c->deadline.count(), 30);
}

TEST(HealthCheckConfig, LifeAfterTheCommitHasDefaultsAndCanBeTurnedOff) {
  auto d = ParseHealthCheck(json::parse(R"({"kind":"process"})"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->healthy_for.count(), 0);
  EXPECT_EQ(d->probation.count(), 300);
  EXPECT_EQ(d->liveness_interval.count(), 30);
  EXPECT_EQ(d->liveness_failures, 3);
  auto c = ParseHealthCheck(json::parse(R"({"kind":"tcp","port":80,"healthy_for_s":10,
      "probation_s":0,"liveness_interval_s":0,"liveness_failures":5})"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->healthy_for.count(), 10);
  EXPECT_EQ(c->probation.count(), 0);
  EXPECT_EQ(c->liveness_interval.count(), 0);
  EXPECT_EQ(c->liveness_failures, 5);
  auto back = ParseHealthCheck(HealthCheckToJson(*c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->healthy_for.count(), 10);
  EXPECT_EQ(back->liveness_failures, 5);
  EXPECT_FALSE(ParseHealthCheck(json::parse(R"({"kind":"process","healthy_for_s":30})")));
  EXPECT_FALSE(ParseHealthCheck(json::parse(R"({"kind":"process","liveness_failures":0})")));
  EXPECT_FALSE(ParseHealthCheck(json::parse(R"({"kind":"process","probation_s":-1})")));
}

TEST(HealthCheckConfig, ParsesOtherKinds) {
  auto process = ParseHealthCheck(json::parse(R"({"kind":"process","up_s":7.5})"));
  ASSERT_TRUE(process);
  EXPECT_EQ(process->kind, CheckKind::kProcess);
  EXPECT_EQ(process->up.count(), 7.5);
  auto tcp = ParseHealthCheck(json::parse(R"({"kind":"tcp","port":5432,"failures":3})"));
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 5432);
  EXPECT_EQ(tcp->failures, 3);
  auto exec = ParseHealthCheck(json::parse(R"({"kind":"exec","command":["/bin/check","-q"]})"));
  ASSERT_TRUE(exec);
  EXPECT_EQ(exec->command, (std::vector<std::string>{"/bin/check", "-q"}));
}

TEST(HealthCheckConfig, RefusesMalformedChecks) {
  for (const char* text : {
           R"([])",
           R"({})",
           R"({"kind":"ping"})",
           R"({"kind":"http"})",
           R"({"kind":"http","url":"https://127.0.0.1/"})",
           R"({"kind":"http","url":"http://example.com/"})",
           R"({"kind":"http","url":"http://user:pw@127.0.0.1/"})",
           R"({"kind":"http","url":"http://127.0.0.1:0/"})",
           R"({"kind":"http","url":"http://127.0.0.1:99999/"})",
           R"({"kind":"http","url":"http://127.0.0.1/a b"})",
           R"({"kind":"http","url":"http://127.0.0.1/","expect_status":[399,200]})",
           R"({"kind":"http","url":"http://127.0.0.1/","expect_status":[200]})",
           R"({"kind":"tcp"})",
           R"({"kind":"tcp","port":70000})",
           R"({"kind":"tcp","port":80,"host":"db.local"})",
           R"({"kind":"exec"})",
           R"({"kind":"exec","command":[]})",
           R"({"kind":"exec","command":[""]})",
           R"({"kind":"exec","command":"/bin/check"})",
           R"({"kind":"process","interval_s":0})",
           R"({"kind":"process","interval_s":-1})",
           R"({"kind":"process","deadline_s":"30"})",
           R"({"kind":"process","up_s":60,"deadline_s":30})",
           R"({"kind":"process","successes":0})",
           R"({"kind":"process","successes":1.5})",
           R"({"kind":"tcp","port":80,"start_period_s":30,"deadline_s":30})",
           R"({"kind":"process","deadine_s":30})",
       }) {
    auto c = ParseHealthCheck(json::parse(text));
    ASSERT_FALSE(c) << text;
    EXPECT_TRUE(c.error().Is(HealthErrc::kInvalidConfig)) << text;
  }
}

TEST(HealthCheckConfig, UnknownKeyIsNamed) {
  auto c = ParseHealthCheck(json::parse(R"({"kind":"process","deadine_s":30})"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("deadine_s"), std::string::npos);
}

TEST(HealthCheckConfig, ParsesUrls) {
  auto v4 = ParseHttpUrl("http://127.0.0.1:8080/status?full=1");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  EXPECT_EQ(v4->path, "/status?full=1");
  auto v6 = ParseHttpUrl("http://[::1]:81");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 81);
  EXPECT_EQ(v6->path, "/");
  auto local = ParseHttpUrl("http://localhost/");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->port, 80);
  EXPECT_FALSE(ParseHttpUrl("http://[::1/"));
  EXPECT_FALSE(ParseHttpUrl("http://127.0.0.1:/"));
  EXPECT_FALSE(ParseHttpUrl("http://127.0.0.1:8o/"));
}

TEST(HealthCheckConfig, DockerHealthcheckCmdMapsToExec) {
  auto c = HealthCheckFromImage(json::parse(R"({"Test":["CMD","/bin/check","--ready"],
      "Interval":5000000000,"Timeout":2000000000,"StartPeriod":10000000000,"Retries":4})"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->kind, CheckKind::kExec);
  EXPECT_EQ(c->command, (std::vector<std::string>{"/bin/check", "--ready"}));
  EXPECT_EQ(c->interval.count(), 5);
  EXPECT_EQ(c->timeout.count(), 2);
  EXPECT_EQ(c->start_period.count(), 10);
  EXPECT_EQ(c->failures, 4);
  EXPECT_EQ(c->deadline.count(), 10 + 5 * 7);
}

TEST(HealthCheckConfig, DockerHealthcheckShellFormAndNone) {
  auto shell = HealthCheckFromImage(json::parse(R"({"Test":["CMD-SHELL","curl -f localhost"]})"));
  ASSERT_TRUE(shell);
  EXPECT_EQ(shell->command, (std::vector<std::string>{"/bin/sh", "-c", "curl -f localhost"}));
  EXPECT_EQ(shell->interval.count(), 30);  // Docker's defaults
  EXPECT_EQ(shell->failures, 3);
  auto none = HealthCheckFromImage(json::parse(R"({"Test":["NONE"]})"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->kind, CheckKind::kProcess);
  EXPECT_FALSE(HealthCheckFromImage(json::parse(R"({"Test":["RUN","x"]})")));
  EXPECT_FALSE(HealthCheckFromImage(json::parse(R"({"Test":["CMD"]})")));
  EXPECT_FALSE(HealthCheckFromImage(json::parse(R"({"Test":["CMD-SHELL","a","b"]})")));
  EXPECT_FALSE(HealthCheckFromImage(json::parse(R"({"Test":["CMD",1]})")));
  EXPECT_FALSE(HealthCheckFromImage(json::parse(R"({"Test":["CMD","x"],"Interval":-1})")));
}

}  // namespace
}  // namespace ferry::manifest
