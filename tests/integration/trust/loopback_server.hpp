// A tiny HTTP/1.1 server on 127.0.0.1 (port 0) for tests: GET of a path serves the bytes stored
// under that path (without the leading '/'), or 404. One request per connection. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "support/loopback_http_server.hpp"

namespace ferry::testing {

class LoopbackServer {
 public:
  LoopbackServer();

  std::string BaseUrl() const { return server_.url(); }
  // Replaces everything served.
  void SetFiles(std::map<std::string, std::string> files);
  void SetFile(const std::string& path, std::string bytes);
  // Paths requested so far, in order.
  std::vector<std::string> Requests() const;
  // Sends bodies without Content-Length (ended by closing the connection), as a streaming or
  // hostile server would.
  void SetOmitContentLength(bool omit);

 private:
  LoopbackHttpReply Answer(const LoopbackHttpRequest& request);

  mutable std::mutex mu_;
  std::map<std::string, std::string> files_;
  bool omit_content_length_ = false;
  LoopbackHttpServer server_;  // last: stops before what it serves goes
};

}  // namespace ferry::testing
