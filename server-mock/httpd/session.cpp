#include "session.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <exception>
#include <iterator>
#include <optional>
#include <vector>

#include "ferry/core/log.hpp"
#include "ferry/core/text.hpp"
#include "ferry/httpd/http_date.hpp"
#include "ferry/httpd/target_path.hpp"

namespace ferry::httpd::detail {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

auto Redirect(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

bool BodyForbidden(http::status status) {
  const auto code = static_cast<unsigned>(status);
  return code < 200 || code == 204 || code == 304;
}

std::string Peer(const tcp::endpoint& remote) { return FormatEndpoint(remote); }

// Reads `n` bytes of the body at body offset `at` into `out`. False when the file ends early
// (it shrank while being served) or cannot be read.
bool ReadBody(const Response& response, std::uint64_t at, char* out, std::size_t n) {
  if (const auto* text = std::get_if<std::string>(&response.body)) {
    std::memcpy(out, text->data() + at, n);
    return true;
  }
  const auto& file = std::get<FileBody>(response.body);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r =
        ::pread(file.file.get(), out + done, n - done, static_cast<off_t>(file.offset + at + done));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(r);
  }
  return true;
}

// The TCP layer under a plain or TLS stream, for deadlines and closing.
template <class Stream>
beast::tcp_stream& Tcp(Stream& stream) {
  return beast::get_lowest_layer(stream);
}

template <class Stream>
void CloseSocket(Stream& stream) {
  error_code ignored;
  Tcp(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  Tcp(stream).socket().close(ignored);
}

// Writes `response` (header, then body unless `head_only`). Returns true when the connection may
// serve another request.
template <class Stream>
net::awaitable<bool> WriteResponse(Stream& stream, const ServerOptions& options, unsigned version,
                                   bool head_only, bool keep_alive, const Response& response,
                                   std::uint64_t& sent) {
  http::response<http::empty_body> head(response.status, version);
  for (const auto& field : response.headers) {
    head.insert(field.name_string(), field.value());
  }
  head.set(http::field::server, options.server_name);
  head.set(http::field::date, FormatHttpDate(std::time(nullptr)));
  const std::uint64_t size = BodyForbidden(response.status) ? 0 : response.BodySize();
  if (!BodyForbidden(response.status)) {
    head.set(http::field::content_length, std::to_string(size));
  }
  keep_alive = keep_alive && !response.close;
  head.keep_alive(keep_alive);

  error_code ec;
  http::response_serializer<http::empty_body> serializer(head);
  Tcp(stream).expires_after(options.write_timeout);
  co_await http::async_write_header(stream, serializer, Redirect(ec));
  if (ec) {
    co_return false;
  }
  if (head_only || size == 0) {
    co_return keep_alive;
  }

  const StreamFaults& faults = response.faults;
  std::uint64_t limit = size;
  if (faults.drop_after && *faults.drop_after < limit) {
    limit = *faults.drop_after;
  }
  std::size_t chunk = options.chunk_size;
  if (faults.rate) {
    // Small slices keep the pace even: about 20 writes a second.
    chunk = static_cast<std::size_t>(std::clamp<std::uint64_t>(*faults.rate / 20, 1, chunk));
  }
  std::vector<char> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, limit)));
  net::steady_timer timer(co_await net::this_coro::executor);
  const auto start = std::chrono::steady_clock::now();
  while (sent < limit) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), limit - sent));
    if (faults.rate) {
      const std::chrono::duration<double> due(static_cast<double>(sent) /
                                              static_cast<double>(*faults.rate));
      timer.expires_at(start +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(due));
      co_await timer.async_wait(Redirect(ec));
    }
    if (!ReadBody(response, sent, buffer.data(), n)) {
      log::warn("{}: body source ended early at byte {} of {}",
                Peer(Tcp(stream).socket().remote_endpoint(ec)), sent, size);
      CloseSocket(stream);
      co_return false;
    }
    if (faults.flip_at) {
      const std::uint64_t first = response.resource_offset + sent;
      if (*faults.flip_at >= first && *faults.flip_at < first + n) {
        buffer[static_cast<std::size_t>(*faults.flip_at - first)] ^= static_cast<char>(0xff);
      }
    }
    Tcp(stream).expires_after(options.write_timeout);
    co_await net::async_write(stream, net::buffer(buffer.data(), n), Redirect(ec));
    if (ec) {
      co_return false;
    }
    sent += n;
  }
  if (limit < size) {
    CloseSocket(stream);  // the drop fault: the peer sees a body shorter than Content-Length
    co_return false;
  }
  co_return keep_alive;
}

// Answers a request that cannot be served (bad, too large, unrouted) and says whether the
// connection may go on.
template <class Stream>
net::awaitable<bool> WriteError(Stream& stream, const ServerOptions& options, unsigned version,
                                bool head_only, bool keep_alive, Response response) {
  std::uint64_t sent = 0;
  co_return co_await WriteResponse(stream, options, version, head_only, keep_alive, response, sent);
}

Response ErrorFor(const error_code& ec) {
  if (ec == http::error::header_limit) {
    return Response::Text(http::status::request_header_fields_too_large, "header too large");
  }
  if (ec == http::error::body_limit) {
    return Response::Text(http::status::payload_too_large, "body too large");
  }
  return Response::Text(http::status::bad_request, "bad request: " + ec.message());
}

bool IsParseError(const error_code& ec) {
  return ec.category() == make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// Framing that two parsers (ours and a proxy's in front of us) could read differently is
// refused before anything is routed: request smuggling lives in these gaps (RFC 9112, 6.1, 3.2).
std::optional<Response> RefuseFraming(const http::request_parser<http::empty_body>& parser) {
  const auto& header = parser.get();
  const auto te = header.equal_range(http::field::transfer_encoding);
  const auto te_fields = std::distance(te.first, te.second);
  if (te_fields > 0) {
    if (header.version() < 11) {
      return Response::Text(http::status::bad_request,
                            "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
    const auto value = te.first->value();
    const std::string_view coding = TrimHttpSpace(std::string_view(value.data(), value.size()));
    if (te_fields > 1 || !beast::iequals(beast::string_view(coding.data(), coding.size()),
                                         beast::string_view("chunked"))) {
      return Response::Text(http::status::not_implemented,
                            "the only Transfer-Encoding accepted is chunked");
    }
  }
  const auto host = header.equal_range(http::field::host);
  const auto host_fields = std::distance(host.first, host.second);
  if (header.version() >= 11 && host_fields != 1) {
    return Response::Text(http::status::bad_request, host_fields == 0
                                                         ? "an HTTP/1.1 request needs a Host header"
                                                         : "more than one Host header");
  }
  return std::nullopt;
}

Response Dispatch(const Handler& handler, const Request& request) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    log::error("{} {}: handler failed: {}", request.message.method_string(),
               request.message.target(), e.what());
  }
  return Response::Text(http::status::internal_server_error, "internal error");
}

template <class Stream>
net::awaitable<void> ServeRequests(const Router& router, const ServerOptions& options,
                                   Stream& stream, const tcp::endpoint& remote) {
  error_code ec;
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    http::request_parser<http::empty_body> header_parser;
    header_parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
    // A new connection must say what it wants soon; a kept-alive one may idle longer.
    Tcp(stream).expires_after(first ? options.header_timeout : options.read_timeout);
    co_await http::async_read_header(stream, buffer, header_parser, Redirect(ec));
    if (ec) {
      if (IsParseError(ec)) {
        log::info("{}: refused request: {}", Peer(remote), ec.message());
        co_await WriteError(stream, options, 11, false, false, ErrorFor(ec));
      }
      break;
    }
    const auto& header = header_parser.get();
    const unsigned version = header.version();
    const bool head_only = header.method() == http::verb::head;
    if (auto refusal = RefuseFraming(header_parser)) {
      log::info("{}: refused request: {}", Peer(remote),
                std::get<std::string>(refusal->body).substr(0, 80));
      co_await WriteError(stream, options, version, head_only, false, std::move(*refusal));
      break;
    }
    const bool has_body = header_parser.chunked() || header_parser.content_length().value_or(0) > 0;
    const std::string target(header.target());
    const SplitTarget split = SplitRequestTarget(target);
    if (split.path.empty() || split.path.front() != '/') {
      log::info("{}: refused request target {}", Peer(remote), target);
      co_await WriteError(stream, options, version, head_only, false,
                          Response::Text(http::status::bad_request, "bad request target"));
      break;
    }
    Router::Lookup lookup = router.Find(header.method(), split.path);
    if (!lookup.match) {
      Response refusal = Response::Text(http::status::not_found, "not found");
      if (!lookup.allowed.empty()) {
        refusal = Response::Text(http::status::method_not_allowed, "method not allowed");
        std::string allow;
        for (http::verb m : lookup.allowed) {
          allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(m));
        }
        refusal.headers.set(http::field::allow, allow);
      }
      log::info("{} {} {} {}", Peer(remote), header.method_string(), target,
                static_cast<unsigned>(refusal.status));
      // An unread body would be taken for the next request: close instead of reading it.
      if (!co_await WriteError(stream, options, version, head_only,
                               header.keep_alive() && !has_body, std::move(refusal))) {
        break;
      }
      continue;
    }
    const Router::Match& match = *lookup.match;
    if (header_parser.content_length().value_or(0) > match.body_limit) {
      co_await WriteError(stream, options, version, head_only, false,
                          ErrorFor(http::error::body_limit));
      break;
    }
    if (has_body && beast::iequals(header[http::field::expect], "100-continue")) {
      http::response<http::empty_body> proceed(http::status::continue_, version);
      Tcp(stream).expires_after(options.write_timeout);
      co_await http::async_write(stream, proceed, Redirect(ec));
      if (ec) {
        break;
      }
    }
    http::request_parser<http::string_body> parser(std::move(header_parser));
    parser.body_limit(match.body_limit);
    Tcp(stream).expires_after(options.read_timeout);
    co_await http::async_read(stream, buffer, parser, Redirect(ec));
    if (ec) {
      if (IsParseError(ec)) {
        co_await WriteError(stream, options, version, head_only, false, ErrorFor(ec));
      }
      break;
    }
    const HttpRequest message = parser.release();
    const Request request{message, remote, split.path, split.query, match.params};
    const Response response = Dispatch(*match.handler, request);
    std::uint64_t sent = 0;
    const bool again = co_await WriteResponse(stream, options, version, head_only,
                                              message.keep_alive(), response, sent);
    log::info("{} {} {} {} {}", Peer(remote), message.method_string(), target,
              static_cast<unsigned>(response.status), sent);
    if (!again) {
      break;
    }
  }
}

// Waits until the peer has sent something (or closed), without reading it. False when
// `deadline` passed first or the socket failed.
net::awaitable<bool> AwaitFirstByte(const std::shared_ptr<Connection>& connection,
                                    std::chrono::steady_clock::time_point deadline) {
  net::steady_timer timer(connection->executor);
  timer.expires_at(deadline);
  // Shared: a handler already queued when the wait ends still runs after this frame is gone.
  auto expired = std::make_shared<bool>(false);
  timer.async_wait([connection, expired](const error_code& ec) {
    if (!ec) {
      *expired = true;
      error_code ignored;
      connection->Lowest().socket().cancel(ignored);
    }
  });
  error_code ec;
  co_await connection->Lowest().socket().async_wait(tcp::socket::wait_read, Redirect(ec));
  timer.cancel();
  co_return !ec && !*expired;
}

}  // namespace

net::awaitable<void> RunSession(const Router& router, const ServerOptions& options,
                                std::shared_ptr<Connection> connection) {
  error_code ec;
  const tcp::endpoint remote = connection->Lowest().socket().remote_endpoint(ec);
  if (ec) {
    co_return;
  }
  if (connection->tls_context == nullptr) {
    co_await ServeRequests(router, options, *connection->plain, remote);
  } else {
    const auto deadline = std::chrono::steady_clock::now() + options.handshake_timeout;
    if (co_await AwaitFirstByte(connection, deadline)) {
      connection->StartTls();
      connection->Lowest().expires_at(deadline);
      co_await connection->secure->async_handshake(net::ssl::stream_base::server, Redirect(ec));
      if (ec) {
        log::info("{}: TLS handshake failed: {}", Peer(remote), ec.message());
      } else {
        // No close_notify on the way out: every response is framed by Content-Length, so a cut
        // connection cannot pass for a complete reply.
        co_await ServeRequests(router, options, *connection->secure, remote);
      }
    } else {
      log::info("{}: no TLS handshake within {} s", Peer(remote),
                options.handshake_timeout.count());
    }
  }
  CloseSocket(connection->Lowest());
}

}  // namespace ferry::httpd::detail
