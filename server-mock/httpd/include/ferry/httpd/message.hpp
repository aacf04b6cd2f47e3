// What route handlers see and return. A handler runs on one of the server's threads and must not
// block for long: it opens files and builds headers; the server streams the body afterwards.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ferry/core/unique_fd.hpp"

namespace ferry::httpd {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

using HttpRequest = http::request<http::string_body>;

// Values captured by a route pattern ("{id}" → "id"), percent-decoded except a trailing
// "{name...}" capture, which is the raw rest of the path.
using RouteParams = std::vector<std::pair<std::string, std::string>>;

struct Request {
  const HttpRequest& message;
  tcp::endpoint remote;
  std::string_view path;   // raw path of the target, without the query
  std::string_view query;  // raw query, without '?'
  RouteParams params;

  // The captured value named `name`, or "" when the route has no such capture.
  std::string_view Param(std::string_view name) const;
};

// An open file descriptor shared by copies of a response (a body is read while it is sent), closed
// when the last copy goes away.
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(std::make_shared<const UniqueFd>(fd)) {}
  int get() const { return fd_->get(); }

 private:
  std::shared_ptr<const UniqueFd> fd_;
};

// `length` bytes of an open file from `offset`, read in chunks while they are sent.
struct FileBody {
  FileHandle file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// Ways to misbehave while sending a body, set by fault injection (see fault.hpp).
struct StreamFaults {
  std::optional<std::uint64_t> drop_after;  // close the connection after this many body bytes
  std::optional<std::uint64_t> rate;        // send at most this many body bytes per second
  std::optional<std::uint64_t> flip_at;     // invert the byte at this offset of the resource
};

struct Response {
  http::status status = http::status::ok;
  // Header fields; the server adds Content-Length, Date, Server and Connection itself.
  http::fields headers;
  std::variant<std::monostate, std::string, FileBody> body;
  // Offset of the body's first byte within the whole resource (a 206 body starts at its range).
  std::uint64_t resource_offset = 0;
  StreamFaults faults;
  bool close = false;  // close the connection after this response

  std::uint64_t BodySize() const;

  // A short text/plain response, for errors and simple answers.
  static Response Text(http::status status, std::string text);
  // An application/json response.
  static Response Json(http::status status, std::string json);
};

}  // namespace ferry::httpd
