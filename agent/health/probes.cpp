// The real probes. Plain sockets with poll() deadlines: a probe is one short request to an app on
// this device, and must never hang the trial whatever the app does (accept and stay silent,
// trickle bytes, send garbage).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "ferry/core/unique_fd.hpp"
#include "ferry/health/probe.hpp"

namespace ferry::health {

using manifest::CheckKind;
using manifest::HealthCheck;
using manifest::HttpTarget;
using manifest::ParseHttpUrl;
namespace {

using Millis = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::size_t kMaxResponse = 4096;

int MillisLeft(SteadyTime deadline) {
  const auto left =
      std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
  return left > 0 ? static_cast<int>(std::min<long long>(left, 60'000)) : 0;
}

enum class Wait { kReady, kTimedOut, kCancelled };

constexpr const char* kStopping = "ferryd is stopping";

// Waits for `events` on `fd` until `deadline`, or until `cancel` is cancelled.
Wait WaitFor(int fd, short events, SteadyTime deadline, const CancelToken* cancel) {
  const int cancel_fd = cancel != nullptr ? cancel->wait_fd() : -1;
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) {
      return Wait::kCancelled;
    }
    pollfd p[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    int timeout_ms = MillisLeft(deadline);
    if (cancel != nullptr && cancel_fd < 0) {
      timeout_ms = std::min(timeout_ms, 10);  // no eventfd: look at the token often
    }
    const int rc = ::poll(p, cancel_fd >= 0 ? 2 : 1, timeout_ms);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (cancel != nullptr && cancel->cancelled()) {
      return Wait::kCancelled;
    }
    if (rc > 0 && p[0].revents != 0) {
      return Wait::kReady;
    }
    if (rc < 0 || MillisLeft(deadline) == 0) {
      return Wait::kTimedOut;
    }
  }
}

std::string Endpoint(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

// A connected non-blocking socket, or an error text for people (Errc::kCancelled on a stop).
Result<int> Connect(const std::string& host, int port, SteadyTime deadline,
                    const CancelToken* cancel) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  const std::string ip = host == "localhost" ? "127.0.0.1" : host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return Fail(Errc::kInvalidArgument, "not an IP address: " + host);
  }
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Fail(ErrnoError("socket"));
  }
  const std::string what = "connect " + Endpoint(host, port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) {
      const int saved = errno;
      ::close(fd);
      return Fail(ErrnoError(what, saved));
    }
    switch (WaitFor(fd, POLLOUT, deadline, cancel)) {
      case Wait::kReady:
        break;
      case Wait::kTimedOut:
        ::close(fd);
        return Fail(Errc::kTimeout, what + ": timed out");
      case Wait::kCancelled:
        ::close(fd);
        return Fail(Errc::kCancelled, what + ": " + kStopping);
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) {
      ::close(fd);
      return Fail(ErrnoError(what, err));
    }
  }
  return fd;
}

ProbeResult Unhealthy(const Error& error) {
  return {false, error.message(), error.Is(Errc::kCancelled)};
}

class TcpProbe final : public Probe {
 public:
  TcpProbe(std::string host, int port, const CancelToken* cancel)
      : host_(std::move(host)), port_(port), cancel_(cancel) {}
  ProbeResult Run(Millis timeout) override {
    auto fd = Connect(host_, port_, std::chrono::steady_clock::now() + timeout, cancel_);
    if (!fd) {
      return Unhealthy(fd.error());
    }
    const UniqueFd s(*fd);
    return {true, "connected to " + Endpoint(host_, port_)};
  }

 private:
  std::string host_;
  int port_;
  const CancelToken* cancel_;
};

class HttpProbe final : public Probe {
 public:
  HttpProbe(HttpTarget target, int status_min, int status_max, const CancelToken* cancel)
      : target_(std::move(target)), min_(status_min), max_(status_max), cancel_(cancel) {}

  ProbeResult Run(Millis timeout) override {
    const SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
    auto fd = Connect(target_.host, target_.port, deadline, cancel_);
    if (!fd) {
      return Unhealthy(fd.error());
    }
    const UniqueFd s(*fd);
    const std::string request = "GET " + target_.path +
                                " HTTP/1.0\r\nHost: " + Endpoint(target_.host, target_.port) +
                                "\r\nUser-Agent: ferryd-health\r\nConnection: close\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
      switch (WaitFor(s.get(), POLLOUT, deadline, cancel_)) {
        case Wait::kReady:
          break;
        case Wait::kTimedOut:
          return {false, "sending request: timed out"};
        case Wait::kCancelled:
          return {false, std::string("sending request: ") + kStopping, true};
      }
      const ssize_t n = ::send(s.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return {false, ErrnoError("sending request").message()};
      }
      sent += n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    // Only the status line matters; read until it is complete, at most kMaxResponse bytes.
    std::string response;
    char buf[1024];
    while (response.find("\r\n") == std::string::npos && response.size() < kMaxResponse) {
      switch (WaitFor(s.get(), POLLIN, deadline, cancel_)) {
        case Wait::kReady:
          break;
        case Wait::kTimedOut:
          return {false, "no HTTP response within " + std::to_string(timeout.count()) + " ms"};
        case Wait::kCancelled:
          return {false, std::string("reading the response: ") + kStopping, true};
      }
      const ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        continue;
      }
      if (n < 0) {
        return {false, ErrnoError("reading response").message()};
      }
      if (n == 0) {
        break;
      }
      response.append(buf, static_cast<std::size_t>(n));
    }
    const std::string line = response.substr(0, response.find("\r\n"));
    int status = 0;
    if (line.starts_with("HTTP/1.") && line.size() >= 12 && line[8] == ' ') {
      const auto [ptr, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
      if (ec != std::errc() || ptr != line.data() + 12) {
        status = 0;
      }
    }
    if (status == 0) {
      return {false, "not an HTTP response: \"" + line.substr(0, 80) + "\""};
    }
    if (status < min_ || status > max_) {
      return {false, "HTTP status " + std::to_string(status) + " not in " + std::to_string(min_) +
                         "-" + std::to_string(max_) + " (" + line.substr(0, 80) + ")"};
    }
    return {true, line.substr(0, 80)};
  }

 private:
  HttpTarget target_;
  int min_;
  int max_;
  const CancelToken* cancel_;
};

class ExecProbe final : public Probe {
 public:
  ExecProbe(runtime::ContainerRuntime& runtime, std::string id, std::vector<std::string> command)
      : runtime_(runtime), id_(std::move(id)), command_(std::move(command)) {}
  ProbeResult Run(Millis timeout) override {
    auto r = runtime_.Exec(id_, command_, timeout);
    if (!r) {
      return Unhealthy(r.error());
    }
    if (r->timed_out) {
      return {false,
              "command timed out after " + std::to_string(timeout.count()) + " ms: " + r->output};
    }
    if (r->exit_code != 0) {
      return {false,
              "command exited with status " + std::to_string(r->exit_code) + ": " + r->output};
    }
    return {true, r->output};
  }

 private:
  runtime::ContainerRuntime& runtime_;
  std::string id_;
  std::vector<std::string> command_;
};

}  // namespace

std::unique_ptr<Probe> MakeProbe(const HealthCheck& check, runtime::ContainerRuntime& runtime,
                                 const std::string& container_id, const CancelToken* cancel) {
  switch (check.kind) {
    case CheckKind::kProcess:
      return nullptr;
    case CheckKind::kHttp: {
      auto target = ParseHttpUrl(check.url);
      if (!target) {
        // ParseHealthCheck validated the URL; a hand-built check with a bad one probes as failed.
        struct BadUrl final : Probe {
          std::string why;
          explicit BadUrl(std::string w) : why(std::move(w)) {}
          ProbeResult Run(Millis) override { return {false, why}; }
        };
        return std::make_unique<BadUrl>(target.error().message());
      }
      return std::make_unique<HttpProbe>(*target, check.status_min, check.status_max, cancel);
    }
    case CheckKind::kTcp:
      return std::make_unique<TcpProbe>(check.host, check.port, cancel);
    case CheckKind::kExec:
      return std::make_unique<ExecProbe>(runtime, container_id, check.command);
  }
  return nullptr;
}

}  // namespace ferry::health
