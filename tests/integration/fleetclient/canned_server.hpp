// A loopback server that answers every connection with the same bytes (or not at all), for replies
// no real fleet server sends: not JSON, too large, redirects, silence.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::testing {

class CannedServer {
 public:
  // Listens on 127.0.0.1 port 0. Each connection's request is read (headers and a Content-Length
  // body), then `reply` is written and the connection closed. With `silent`, nothing is written and
  // the connection is held open until the server stops.
  explicit CannedServer(std::string reply, bool silent = false);
  ~CannedServer();
  CannedServer(const CannedServer&) = delete;
  CannedServer& operator=(const CannedServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  // The last request's head (request line and headers).
  std::string last_request() const;

 private:
  void Loop();

  std::string reply_;
  bool silent_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::string last_request_;
  std::vector<int> held_;  // connections of a silent server, closed at the end
  std::thread thread_;
};

}  // namespace ferry::testing
