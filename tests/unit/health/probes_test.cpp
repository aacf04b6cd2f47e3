// The real HTTP and TCP probes against servers on loopback (port 0).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "ferry/health/probe.hpp"
#include "support/fake_runtime.hpp"

namespace ferry::health {
namespace {

using namespace std::chrono_literals;
using manifest::CheckKind;
using manifest::HealthCheck;

// Accepts connections on 127.0.0.1 and answers each with `reply` (or nothing, when empty).
class TinyServer {
 public:
  explicit TinyServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0 || stop_) {
          if (c >= 0) {
            ::close(c);
          }
          return;
        }
        char buf[2048];
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n > 0) {
          request_.assign(buf, static_cast<std::size_t>(n));
        }
        if (!reply_.empty()) {
          EXPECT_EQ(::write(c, reply_.data(), reply_.size()), static_cast<ssize_t>(reply_.size()));
          ::close(c);
        } else {
          held_.push_back(c);  // silent: keep it open until the end
        }
      }
    });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    for (int c : held_) {
      ::close(c);
    }
  }
  int port() const { return port_; }
  std::string request() { return request_; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::string request_;
  std::vector<int> held_;
  std::thread thread_;
};

int ClosedPort() {
  TinyServer s("x");
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
  TinyServer server("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  const auto r = Http(server.port())->Run(2000ms);
  EXPECT_TRUE(r.healthy) << r.output;
  EXPECT_EQ(r.output, "HTTP/1.1 204 No Content");
  EXPECT_TRUE(server.request().starts_with("GET /health HTTP/1.0\r\n")) << server.request();
}

TEST(HttpProbe, UnhealthyOnStatusOutOfRange) {
  TinyServer server("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy");
  const auto r = Http(server.port())->Run(2000ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("HTTP status 503 not in 200-399"), std::string::npos) << r.output;
}

TEST(HttpProbe, UnhealthyOnGarbage) {
  TinyServer server("SSH-2.0-OpenSSH\r\n");
  const auto r = Http(server.port())->Run(2000ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("not an HTTP response"), std::string::npos) << r.output;
}

TEST(HttpProbe, SilentServerTimesOut) {
  TinyServer server("");
  const auto start = std::chrono::steady_clock::now();
  const auto r = Http(server.port())->Run(300ms);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.output.find("no HTTP response within 300 ms"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(HttpProbe, StopEndsAProbeInFlightAtOnce) {
  TinyServer server("");
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
  TinyServer server("hello");
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
