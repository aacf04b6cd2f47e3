// An HTTP/1.1 server on Boost.Beast: one io_context (run by as many threads as the caller likes),
// one strand per connection, keep-alive, and one place where requests are read with limits.
//
// Each request is read in two steps: the header (bounded by `header_limit`, request line
// included), then, once the route is known, the body (bounded by the route's body limit). A
// malformed request gets 400, an oversized header 431, an oversized body 413; each of these closes
// the connection. Responses stream their bodies in chunks, so a file of any size is never held in
// memory. A peer gets at most `max_connections_per_peer` connections at once, a new connection
// `header_timeout` (and `handshake_timeout` for TLS) to send its first request header.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/httpd/router.hpp"

namespace ferry::httpd {

// HTTPS instead of HTTP: PEM files, TLS 1.2 or later only.
struct TlsOptions {
  std::string cert_file;       // the server's certificate chain; empty: plain HTTP
  std::string key_file;        // its private key (unencrypted)
  std::string client_ca_file;  // when set, clients must present a certificate issued by these CAs

  bool enabled() const { return !cert_file.empty(); }
};

struct ServerOptions {
  std::size_t header_limit = 16 * 1024;        // request line + header fields
  std::chrono::seconds handshake_timeout{10};  // for a TLS handshake to complete
  std::chrono::seconds header_timeout{10};     // for a new connection's first request header
  std::chrono::seconds read_timeout{30};       // to read one request, and idle keep-alive time
  std::chrono::seconds write_timeout{60};      // for each chunk of a response
  // Open connections from one peer address; more are closed as soon as they are accepted.
  std::size_t max_connections_per_peer = 32;
  // Open connections in all; 0: three quarters of the soft RLIMIT_NOFILE (at least 16), so
  // files and the database still get descriptors when the limit is reached.
  std::size_t max_connections = 0;
  std::size_t chunk_size = 64 * 1024;  // body bytes per write
  std::string server_name = "ferry-server";
  TlsOptions tls;
};

class Server {
 public:
  // The router must outlive the server and must not change once Listen was called.
  Server(boost::asio::io_context& io, const Router& router, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds `endpoint` (port 0 picks a free port) and starts accepting connections on the
  // io_context. Returns the bound endpoint. Fails with kListen when the socket cannot be bound,
  // and with kTls (naming the file and the problem) when options.tls is enabled and the
  // certificate, key or client CA cannot be read, or the key does not match the certificate.
  // With TLS, a connection whose handshake fails (or that brings no valid client certificate when
  // one is required) is logged and closed before any request is read.
  Result<tcp::endpoint> Listen(const tcp::endpoint& endpoint);

  // Stops accepting and closes every open connection. Safe to call from any thread; the work is
  // done on the io_context, after which io_context::run returns once nothing else is queued.
  void Stop();

  struct State;  // shared with the accept loop and the connections; opaque

 private:
  std::shared_ptr<State> state_;
};

// Parses "ADDR:PORT" with ADDR an IPv4 literal or a bracketed IPv6 literal ("[::1]:8080").
Result<tcp::endpoint> ParseListenAddress(std::string_view text);

// "127.0.0.1:8080" or "[::1]:8080".
std::string FormatEndpoint(const tcp::endpoint& endpoint);

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses.
bool IsLoopback(const boost::asio::ip::address& address);

}  // namespace ferry::httpd
