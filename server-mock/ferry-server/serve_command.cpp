// `ferry-server serve --repo DIR --listen ADDR:PORT [--fault SPEC]... [--admin-token-file F]
//  [--fleet-db FILE --operator-token-file F] [--max-connections-per-peer N] [--handshake-timeout S]
//  [--header-timeout S] [--tls-cert F --tls-key F [--tls-client-ca F]]`
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "ferry/core/asio_clock.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/fleet/api.hpp"
#include "ferry/httpd/fault.hpp"
#include "ferry/httpd/server.hpp"
#include "ferry/httpd/static_files.hpp"
#include "release_check.hpp"
#include "subcommand.hpp"

namespace ferry::server {
namespace {

namespace net = boost::asio;

struct ServeOptions {
  std::string repo;
  std::string listen;
  unsigned threads = 2;
  std::vector<std::string> faults;
  std::string admin_token_file;
  std::string fleet_db;
  std::string operator_token_file;
  double device_rate = 1.0;
  double device_burst = 30;
  double operator_rate = 50;
  double operator_burst = 200;
  double device_event_rate = 1.0;
  double device_event_burst = 1000;
  std::int64_t device_max_events = 1000;
  std::int64_t device_max_event_bytes = 1 << 20;
  std::size_t max_connections_per_peer = 32;
  unsigned handshake_timeout_s = 10;
  unsigned header_timeout_s = 10;
  httpd::TlsOptions tls;
};

// `what` names the token in errors: "admin token file", "operator token file".
Result<std::string> ReadToken(const std::string& path, std::string_view what) {
  auto text = fs::ReadFile(path, 4096);
  if (!text) {
    return Fail(text.error().WithContext("reading the token file " + path));
  }
  std::string token = std::move(*text);
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = token.find_first_not_of(kSpace);
  token = first == std::string::npos
              ? std::string()
              : token.substr(first, token.find_last_not_of(kSpace) - first + 1);
  if (token.empty()) {
    return Fail(Errc::kInvalidArgument, std::string(what) + " " + path + " is empty");
  }
  return token;
}

int Serve(const ServeOptions& options) {
  auto endpoint = httpd::ParseListenAddress(options.listen);
  if (!endpoint) {
    log::error("{}", endpoint.error().String());
    return 2;
  }
  auto faults = std::make_shared<httpd::FaultSet>();
  for (const auto& text : options.faults) {
    auto spec = httpd::ParseFaultSpec(text);
    if (!spec) {
      log::error("{}", spec.error().String());
      return 2;
    }
    log::warn("fault in force: {}", httpd::FormatFaultSpec(*spec));
    faults->Add(std::move(*spec));
  }
  auto files = httpd::StaticFiles::Open(options.repo);
  if (!files) {
    log::error("{}", files.error().String());
    return 1;
  }

  httpd::Router router;
  if (auto added = router.Add({httpd::http::verb::get, httpd::http::verb::head}, "/{path...}",
                              httpd::WithFaults(faults, httpd::StaticFilesHandler(*files)));
      !added) {
    log::error("{}", added.error().String());
    return 1;
  }
  net::io_context io(static_cast<int>(options.threads));
  AsioClock clock(io);
  if (!options.admin_token_file.empty()) {
    auto token = ReadToken(options.admin_token_file, "admin token file");
    if (!token) {
      log::error("{}", token.error().String());
      return 2;
    }
    if (auto added = httpd::AddFaultAdminRoutes(router, faults, std::move(*token), clock); !added) {
      log::error("{}", added.error().String());
      return 1;
    }
  }

  std::shared_ptr<fleet::Fleet> fleet_service;
  if (!options.fleet_db.empty()) {
    if (options.operator_token_file.empty()) {
      log::error("--fleet-db needs --operator-token-file");
      return 2;
    }
    auto token = ReadToken(options.operator_token_file, "operator token file");
    if (!token) {
      log::error("{}", token.error().String());
      return 2;
    }
    if (auto strong = fleet::CheckOperatorToken(*token); !strong) {
      log::error("{}: {}", options.operator_token_file, strong.error().message());
      return 2;
    }
    fleet::FleetOptions retention;
    retention.max_events_per_device = options.device_max_events;
    retention.max_event_bytes_per_device = options.device_max_event_bytes;
    auto opened = fleet::Fleet::Open(options.fleet_db, clock, retention);
    if (!opened) {
      log::error("{}", opened.error().String());
      return 1;
    }
    fleet_service = std::move(*opened);
    fleet_service->SetReleaseCheck(RepositoryReleaseCheck(options.repo));
    fleet::ApiOptions api;
    api.operator_token = std::move(*token);
    api.device_limit = {options.device_rate, options.device_burst};
    api.operator_limit = {options.operator_rate, options.operator_burst};
    api.device_event_limit = {options.device_event_rate, options.device_event_burst};
    if (auto added = fleet::AddFleetRoutes(router, fleet_service, clock, std::move(api)); !added) {
      log::error("{}", added.error().String());
      return 1;
    }
    log::info("fleet API on, database {}", options.fleet_db);
  }
  if (options.tls.enabled() != !options.tls.key_file.empty()) {
    log::error("--tls-cert and --tls-key go together");
    return 2;
  }
  if (!options.tls.enabled() && !options.tls.client_ca_file.empty()) {
    log::error("--tls-client-ca needs --tls-cert and --tls-key");
    return 2;
  }
  httpd::ServerOptions server_options;
  server_options.tls = options.tls;
  server_options.max_connections_per_peer = options.max_connections_per_peer;
  server_options.handshake_timeout = std::chrono::seconds(options.handshake_timeout_s);
  server_options.header_timeout = std::chrono::seconds(options.header_timeout_s);
  httpd::Server server(io, router, server_options);
  auto bound = server.Listen(*endpoint);
  if (!bound) {
    log::error("{}", bound.error().String());
    return 1;
  }
  // The one line on stdout: scripts and tests read the port from it (port 0 picks a free one).
  std::printf("listening on %s\n", httpd::FormatEndpoint(*bound).c_str());
  std::fflush(stdout);
  log::info("serving {} on {} ({}) with {} thread(s)", options.repo, httpd::FormatEndpoint(*bound),
            !options.tls.enabled()               ? "HTTP"
            : options.tls.client_ca_file.empty() ? "HTTPS"
                                                 : "HTTPS, client certificates required",
            options.threads);

  // Phase waits fall due with no request to notice them: look once a second.
  net::steady_timer reconcile_timer(io);
  std::function<void()> schedule_reconcile = [&] {
    reconcile_timer.expires_after(std::chrono::seconds(1));
    reconcile_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) {
        return;
      }
      if (auto st = fleet_service->Reconcile(); !st) {
        log::error("fleet: {}", st.error().String());
      }
      schedule_reconcile();
    });
  };
  if (fleet_service) {
    schedule_reconcile();
  }

  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec) {
      return;
    }
    log::info("signal {}: stopping", signal_number);
    server.Stop();
    reconcile_timer.cancel();
    // In-flight transfers are cut: clients resume with Range, and the exit stays prompt.
    io.stop();
  });

  std::vector<std::jthread> workers;
  for (unsigned i = 1; i < options.threads; ++i) {
    workers.emplace_back([&io] { io.run(); });
  }
  io.run();
  workers.clear();
  log::info("stopped");
  return 0;
}

}  // namespace

Runner SetupServe(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  app.add_option("--repo", options->repo, "Repository directory to serve")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--listen", options->listen,
                 "ADDR:PORT to listen on, e.g. 0.0.0.0:8080 or [::1]:0 (port 0 picks a free "
                 "port; the bound address is printed on stdout)")
      ->required();
  app.add_option("--threads", options->threads, "Threads running the event loop")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  app.add_option("--fault", options->faults,
                 "Fault to inject, e.g. drop:after=1000,path=/blobs/*,first=1 (repeatable; see "
                 "docs/server.md)");
  app.add_option("--admin-token-file", options->admin_token_file,
                 "File holding the bearer token for the /_faults endpoint (loopback peers only); "
                 "without it the endpoint does not exist")
      ->check(CLI::ExistingFile);
  app.add_option("--fleet-db", options->fleet_db,
                 "SQLite database of the fleet API (created when missing); without it the fleet "
                 "API is off");
  app.add_option("--operator-token-file", options->operator_token_file,
                 "File holding the operator's bearer token for the fleet API")
      ->check(CLI::ExistingFile);
  app.add_option("--device-rate", options->device_rate,
                 "Requests per second each device may make, sustained")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--device-burst", options->device_burst, "Requests each device may make at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--operator-rate", options->operator_rate,
                 "Requests per second the operator may make, sustained")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--operator-burst", options->operator_burst,
                 "Requests the operator may make at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--device-event-rate", options->device_event_rate,
                 "Events per second each device may report, sustained")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--device-event-burst", options->device_event_burst,
                 "Events each device may report at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--device-max-events", options->device_max_events,
                 "Events kept per device; older ones are compacted into counts per kind")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--device-max-event-bytes", options->device_max_event_bytes,
                 "Bytes of events kept per device; older ones are compacted into counts per kind")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--max-connections-per-peer", options->max_connections_per_peer,
                 "Open connections one peer address may hold; more are closed at once")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--handshake-timeout", options->handshake_timeout_s,
                 "Seconds a new TLS connection has to complete its handshake")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--header-timeout", options->header_timeout_s,
                 "Seconds a new connection has to send its first request header")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--tls-cert", options->tls.cert_file,
                 "PEM certificate chain: serve HTTPS (TLS 1.2 or later) instead of HTTP");
  app.add_option("--tls-key", options->tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", options->tls.client_ca_file,
                 "PEM CA bundle: require client certificates issued by these CAs (mutual TLS)");
  return [options] { return Serve(*options); };
}

}  // namespace ferry::server
