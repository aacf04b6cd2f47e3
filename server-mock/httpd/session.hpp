// One connection: reads requests, dispatches them through the router, streams responses.
// Private to ferry::httpd.
#pragma once

// clang-format off
// Asio 1.18's awaitable.hpp uses std::exchange without including <utility>: it goes first.
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <optional>

#include "ferry/core/result.hpp"
#include "ferry/httpd/router.hpp"
#include "ferry/httpd/server.hpp"

namespace ferry::httpd::detail {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

struct Connection {
  // `tls` null: plain HTTP. The TLS stream is made by StartTls(), once the peer has sent a byte:
  // its OpenSSL state and Asio's record buffers take about 80 KB, which a connection that never
  // speaks should not hold for the whole handshake timeout.
  Connection(tcp::socket socket, boost::asio::ssl::context* tls)
      : executor(socket.get_executor()), tls_context(tls) {
    plain.emplace(std::move(socket));
  }
  // Moves the TCP stream under a new TLS stream. Call once, on the connection's strand.
  void StartTls() {
    secure.emplace(std::move(*plain), *tls_context);
    plain.reset();
  }
  // The TCP stream under either kind, for timeouts and for closing the socket. On the
  // connection's strand only: StartTls() moves it.
  boost::beast::tcp_stream& Lowest() { return secure ? secure->next_layer() : *plain; }

  const tcp::socket::executor_type executor;  // the connection's strand; safe from any thread
  boost::asio::ssl::context* const tls_context;
  std::optional<boost::beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
};

// Serves requests on `connection` until the peer closes it, an error or a fault ends it, or the
// server closes the socket. With TLS, the handshake comes first. Runs on the connection's strand.
boost::asio::awaitable<void> RunSession(const Router& router, const ServerOptions& options,
                                        std::shared_ptr<Connection> connection);

// A server-side TLS context from `tls`: TLS 1.2 or later, the certificate chain and key checked
// against each other, client certificates required and verified when client_ca_file is set.
// Fails with HttpdErrc::kTls naming the file.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(const TlsOptions& tls);

}  // namespace ferry::httpd::detail
