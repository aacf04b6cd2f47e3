// The real HTTP and TCP probes against servers on loopback (port 0).
#include <gtest/gtest.h>

#include <thread>

#include "ferry/health/probe.hpp"
#include "support/fake_runtime.hpp"
#include "support/loopback_http_server.hpp"

namespace ferry::health {
namespace {

using namespace std::chrono_literals;
using ferry::testing::AlwaysReply;
using ferry::testing::HoldSilently;
using ferry::testing::LoopbackHttpServer;
using manifest::CheckKind;
using manifest::HealthCheck;

int ClosedPort() {
  LoopbackHttpServer s(AlwaysReply("x"));
  return s.port();  // closed once the server is gone
}

std::unique_ptr<Probe> Http(int port, const std::string& path = "/health") {
  static ferry::testing::FakeRuntime runtime;
  HealthCheck c;
  c.kind = CheckKind::kHttp;
  c.url = "http://127.0.0.1:" + std::to_string(port) + path;
  return MakeProbe(c, runtime, "unused");
}

TEST(HttpProbe, HealthyOnStatusInRange) {
  LoopbackHttpServer server(AlwaysReply("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"));
  const auto r = Http(server.port())->Run(2000ms);
  EXPECT_TRUE(r.healthy) << r.output;
  EXPECT_EQ(r.output, "HTTP/1.1 204 No Content");
  EXPECT_TRUE(server.LastHead().starts_with("GET /health HTTP/1.0\r\n")) << server.LastHead();
}

TEST(HttpProbe, UnhealthyOnStatusOutOfRange) {
  LoopbackHttpServer server(AlwaysReply("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"));
  const auto r = Http(server.port())->Run(2000ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("HTTP status 503 not in 200-399"), std::string::npos) << r.output;
}

TEST(HttpProbe, UnhealthyOnGarbage) {
  LoopbackHttpServer server(AlwaysReply("SSH-2.0-OpenSSH\r\n"));
  const auto r = Http(server.port())->Run(2000ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("not an HTTP response"), std::string::npos) << r.output;
}

TEST(HttpProbe, SilentServerTimesOut) {
  LoopbackHttpServer server(HoldSilently());
  const auto start = std::chrono::steady_clock::now();
  const auto r = Http(server.port())->Run(300ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("no HTTP response within 300 ms"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(HttpProbe, StopEndsAProbeInFlightAtOnce) {
  LoopbackHttpServer server(HoldSilently());
  ferry::testing::FakeRuntime runtime;
  CancelToken stop;
  HealthCheck c;
  c.kind = CheckKind::kHttp;
  c.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/health";
  auto probe = MakeProbe(c, runtime, "unused", &stop);
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stop.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto r = probe->Run(20s);
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  EXPECT_FALSE(r.healthy);
  EXPECT_TRUE(r.cancelled) << r.output;
  EXPECT_NE(r.output.find("ferryd is stopping"), std::string::npos) << r.output;
  EXPECT_LT(took, 1s);
  // A later probe does not start.
  const auto again = probe->Run(20s);
  EXPECT_TRUE(again.cancelled) << again.output;
}

TEST(HttpProbe, RefusedConnection) {
  const auto r = Http(ClosedPort())->Run(2000ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("Connection refused"), std::string::npos) << r.output;
}

TEST(TcpProbe, ConnectsOrReportsRefusal) {
  ferry::testing::FakeRuntime runtime;
  LoopbackHttpServer server(AlwaysReply("hello"));
  HealthCheck c;
  c.kind = CheckKind::kTcp;
  c.port = server.port();
  auto ok = MakeProbe(c, runtime, "unused")->Run(2000ms);
  EXPECT_TRUE(ok.healthy) << ok.output;
  c.port = ClosedPort();
  auto refused = MakeProbe(c, runtime, "unused")->Run(2000ms);
  EXPECT_FALSE(refused.healthy);
  EXPECT_NE(refused.output.find("Connection refused"), std::string::npos) << refused.output;
}

TEST(MakeProbe, ProcessKindHasNoProbe) {
  ferry::testing::FakeRuntime runtime;
  EXPECT_EQ(MakeProbe(HealthCheck{}, runtime, "x"), nullptr);
}

}  // namespace
}  // namespace ferry::health
