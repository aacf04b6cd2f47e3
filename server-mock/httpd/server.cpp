#include "ferry/httpd/server.hpp"

// clang-format off
#include "session.hpp"  // before other Asio headers: it carries the <utility> fix for Asio 1.18
// clang-format on

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <exception>
#include <map>
#include <mutex>

#include "ferry/core/log.hpp"
#include "ferry/httpd/error.hpp"

namespace ferry::httpd {

namespace net = boost::asio;
using boost::system::error_code;

struct Server::State {
  State(net::io_context& io_context, const Router& r, ServerOptions o)
      : io(io_context), router(r), options(std::move(o)) {
    max_connections = options.max_connections;
    if (max_connections == 0) {
      rlimit limit{};
      const rlim_t soft = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
      max_connections =
          static_cast<std::size_t>(std::max<rlim_t>(16, std::min<rlim_t>(soft, 1u << 20) / 4 * 3));
    }
  }

  net::io_context& io;
  const Router& router;
  const ServerOptions options;

  std::mutex mu;
  bool stopped = false;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::weak_ptr<detail::Connection>> connections;
  std::map<net::ip::address, std::size_t> per_peer;  // open connections by peer address
  std::size_t max_connections = 0;                   // resolved from options at construction
  std::shared_ptr<net::ssl::context> tls;            // null: plain HTTP
};

namespace {

net::awaitable<void> AcceptLoop(std::shared_ptr<Server::State> state,
                                std::shared_ptr<tcp::acceptor> acceptor) {
  net::steady_timer backoff(acceptor->get_executor());
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(
        net::make_strand(state->io), net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor->is_open()) {
      co_return;
    }
    if (ec) {
      // Out of file descriptors and the like: wait a little rather than spin.
      log::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    // A response goes out as a header write and body writes: without TCP_NODELAY the body waits
    // for the peer's delayed ACK of the header (40 ms on Linux) whenever the request had a body.
    error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    error_code peer_ec;
    const net::ip::address peer = socket.remote_endpoint(peer_ec).address();
    if (peer_ec) {
      continue;  // gone already
    }
    std::uint64_t id = 0;
    bool over = false;
    {
      std::lock_guard lock(state->mu);
      if (state->stopped) {
        co_return;
      }
      std::size_t& mine = state->per_peer[peer];
      over = mine >= state->options.max_connections_per_peer ||
             state->connections.size() >= state->max_connections;
      if (over) {
        if (mine == 0) {
          state->per_peer.erase(peer);
        }
      } else {
        ++mine;
        id = state->next_id++;
      }
    }
    if (over) {
      // Closed before a byte is read or a TLS handshake begins: a stalled crowd from one address
      // costs a descriptor for a moment, never the service of others.
      log::debug("{}: too many connections, closing the new one", peer.to_string());
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto connection = std::make_shared<detail::Connection>(std::move(socket), state->tls.get());
    {
      std::lock_guard lock(state->mu);
      state->connections.emplace(id, connection);
      if (state->stopped) {
        // Stop() ran in between and could not see this connection: close it here.
        error_code ignored;
        connection->Lowest().socket().close(ignored);
      }
    }
    auto executor = connection->executor;
    net::co_spawn(executor,
                  detail::RunSession(state->router, state->options, std::move(connection)),
                  [state, id, peer](std::exception_ptr error) {
                    {
                      std::lock_guard lock(state->mu);
                      state->connections.erase(id);
                      auto it = state->per_peer.find(peer);
                      if (it != state->per_peer.end() && --it->second == 0) {
                        state->per_peer.erase(it);
                      }
                    }
                    if (error) {
                      try {
                        std::rethrow_exception(error);
                      } catch (const std::exception& e) {
                        log::error("connection failed: {}", e.what());
                      }
                    }
                  });
  }
}

}  // namespace

Server::Server(net::io_context& io, const Router& router, ServerOptions options)
    : state_(std::make_shared<State>(io, router, std::move(options))) {}

Server::~Server() { Stop(); }

Result<tcp::endpoint> Server::Listen(const tcp::endpoint& endpoint) {
  if (state_->options.tls.enabled()) {
    std::lock_guard lock(state_->mu);
    if (!state_->tls) {
      auto context = detail::MakeTlsContext(state_->options.tls);
      if (!context) {
        return Fail(context.error());
      }
      state_->tls = std::move(*context);
    }
  }
  auto acceptor = std::make_shared<tcp::acceptor>(net::make_strand(state_->io));
  error_code ec;
  const auto fail = [&](std::string_view what) {
    return Fail(HttpdErrc::kListen,
                std::string(what) + " " + FormatEndpoint(endpoint) + ": " + ec.message());
  };
  if (acceptor->open(endpoint.protocol(), ec); ec) {
    return fail("opening socket for");
  }
  if (acceptor->set_option(net::socket_base::reuse_address(true), ec); ec) {
    return fail("setting SO_REUSEADDR on");
  }
  if (acceptor->bind(endpoint, ec); ec) {
    return fail("binding");
  }
  if (acceptor->listen(net::socket_base::max_listen_connections, ec); ec) {
    return fail("listening on");
  }
  const tcp::endpoint bound = acceptor->local_endpoint(ec);
  if (ec) {
    return fail("reading the address of");
  }
  {
    std::lock_guard lock(state_->mu);
    state_->acceptors.push_back(acceptor);
  }
  net::co_spawn(acceptor->get_executor(), AcceptLoop(state_, acceptor), net::detached);
  return bound;
}

void Server::Stop() {
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::vector<std::shared_ptr<detail::Connection>> connections;
  {
    std::lock_guard lock(state_->mu);
    state_->stopped = true;
    acceptors.swap(state_->acceptors);
    for (auto& [id, weak] : state_->connections) {
      if (auto c = weak.lock()) {
        connections.push_back(std::move(c));
      }
    }
  }
  // Each socket is closed on its own strand, so no handler of that connection runs meanwhile.
  for (auto& acceptor : acceptors) {
    net::post(acceptor->get_executor(), [acceptor] {
      error_code ignored;
      acceptor->close(ignored);
    });
  }
  for (auto& connection : connections) {
    net::post(connection->executor, [connection] {
      error_code ignored;
      connection->Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      connection->Lowest().socket().close(ignored);
    });
  }
}

Result<tcp::endpoint> ParseListenAddress(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Fail(HttpdErrc::kBadListenAddress,
                "listen address '" + std::string(text) + "': " + std::string(why));
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return bad("expected ADDR:PORT");
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("IPv6 addresses go in brackets, as [::1]:8080");
  }
  unsigned port = 0;
  const auto [end, pec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || pec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  error_code ec;
  const auto address = net::ip::make_address(std::string(host), ec);
  if (ec) {
    return bad("address must be an IPv4 or IPv6 literal");
  }
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

bool IsLoopback(const net::ip::address& address) {
  if (address.is_v4()) {
    return address.to_v4().is_loopback();
  }
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, v6).is_loopback();
  }
  return v6.is_loopback();
}

}  // namespace ferry::httpd
