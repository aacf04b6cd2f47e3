// One HTTP/1.1 server on 127.0.0.1 (port 0) for tests. Each connection carries one request: the
// server reads it (head and a Content-Length body), asks the handler for the reply, writes the
// reply's bytes and closes, or holds the connection silently until the server stops. Any bytes
// can be written, so tests can send replies no real server sends (no Content-Length, too large,
// redirects). One thread serves the connections in turn; the handler runs on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::testing {

struct LoopbackHttpRequest {
  std::string method;
  std::string path;  // as on the request line: "/a/b", or a full URL when sent to a proxy
  std::string head;  // request line and headers, up to and including the blank line
  std::string body;
};

struct LoopbackHttpReply {
  std::string bytes;  // written as they are, then the connection is closed
  bool hold = false;  // write nothing; keep the connection open until the server stops
};

class LoopbackHttpServer {
 public:
  using Handler = std::function<LoopbackHttpReply(const LoopbackHttpRequest&)>;

  // Throws std::runtime_error when it cannot listen.
  explicit LoopbackHttpServer(Handler handler);
  // Closes every connection, held ones too, and joins the thread.
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Connections accepted so far, answered or not.
  int connections() const { return connections_.load(); }
  // Requests read so far, in order. Thread-safe.
  std::vector<LoopbackHttpRequest> Requests() const;
  // The last request's head, or "" before the first.
  std::string LastHead() const;

 private:
  void Serve();
  void Answer(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<LoopbackHttpRequest> requests_;
  int current_fd_ = -1;    // the connection being answered, shut down to stop
  std::vector<int> held_;  // connections held open, closed when the server stops
  std::thread thread_;
};

// A handler that answers every request with the same bytes.
LoopbackHttpServer::Handler AlwaysReply(std::string bytes);
// A handler that answers no request and holds every connection open.
LoopbackHttpServer::Handler HoldSilently();

}  // namespace ferry::testing
