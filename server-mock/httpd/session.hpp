// One connection: reads requests, dispatches them through the router, streams responses.
// Private to ferry::httpd.
#pragma once

// clang-format off
// Asio 1.18's awaitable.hpp uses std::exchange without including <utility>: it goes first.
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>

#include "ferry/httpd/router.hpp"
#include "ferry/httpd/server.hpp"

namespace ferry::httpd::detail {

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  boost::beast::tcp_stream stream;
};

// Serves requests on `connection` until the peer closes it, an error or a fault ends it, or the
// server closes the socket. Runs on the connection's strand.
boost::asio::awaitable<void> RunSession(const Router& router, const ServerOptions& options,
                                        std::shared_ptr<Connection> connection);

}  // namespace ferry::httpd::detail
