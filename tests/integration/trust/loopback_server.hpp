// A tiny HTTP/1.1 server on 127.0.0.1 (port 0) for tests: GET of a path serves the bytes stored
// under that path (without the leading '/'), or 404. One request per connection. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::testing {

class LoopbackServer {
 public:
  LoopbackServer();
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Replaces everything served.
  void SetFiles(std::map<std::string, std::string> files);
  void SetFile(const std::string& path, std::string bytes);
  // Paths requested so far, in order.
  std::vector<std::string> Requests() const;
  void ClearRequests();
  // Sends bodies without Content-Length (ended by closing the connection), as a streaming or
  // hostile server would.
  void SetOmitContentLength(bool omit);

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::vector<std::string> requests_;
  bool omit_content_length_ = false;
  std::thread thread_;
};

}  // namespace ferry::testing
