// A deliberately small HTTP/1.1 client over raw sockets, for tests that need what a real client
// would refuse to send (raw "..", NUL escapes, absolute-form targets) or need to watch the bytes
// and the connection itself (short bodies, keep-alive, closes).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool complete = false;  // the whole Content-Length arrived

  // The value of header `name` (any case), or "" when absent.
  std::string Header(std::string_view name) const;
  bool Has(std::string_view name) const;
};

class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);  // connects to 127.0.0.1:port; throws on failure
  // The same from the loopback address `source` (another 127.x.y.z: another peer to the server).
  RawConnection(std::uint16_t port, const char* source);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void Send(std::string_view bytes);
  // Reads one response. `head` means the request was HEAD (no body follows). Returns nothing when
  // the peer closed (or `timeout` passed) before a whole header arrived.
  std::optional<RawResponse> Read(bool head = false,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when the peer closes the connection within `timeout`. Bytes it sent before closing are
  // read past on the way (and kept in the buffer).
  bool PeerClosed(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  // Waits until `deadline` for bytes and appends them to buffer_: what recv returned (0 when the
  // peer closed, -1 with errno on an error), or nullopt when nothing came in time.
  std::optional<ssize_t> Receive(std::chrono::steady_clock::time_point deadline);
  // Appends what arrives to buffer_; false on close, error or timeout.
  bool Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection ("Connection: close"): `method target` with `headers` (each
// "Name: value\r\n"). The response is read to its end or to the close.
std::optional<RawResponse> Fetch(std::uint16_t port, std::string_view method,
                                 std::string_view target, std::string_view headers = {});

// GET `target` on a new connection; a test failure, and an empty response, when none comes.
RawResponse Get(std::uint16_t port, std::string_view target, std::string_view headers = {});

}  // namespace ferry::testing
