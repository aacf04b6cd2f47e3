#include "ferry/daemon/daemon.hpp"

#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>

#include "ferry/control/control.hpp"
#include "ferry/core/asio_clock.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/store/state_store.hpp"
#include "status.hpp"

namespace ferry::daemon {
namespace {

namespace asio = boost::asio;

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(config::Config config, std::unique_ptr<store::StateStore> store)
      : config_(std::move(config)),
        store_(std::move(store)),
        clock_(io_),
        signals_(io_, SIGTERM, SIGINT),
        started_(std::chrono::steady_clock::now()) {}

  Status Run() override {
    control::ControlServer control(io_, config_.socket, Handlers());
    if (auto st = control.Start(); !st) {
      return st;
    }
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (!ec) {
        log::info("received signal {}, shutting down", sig);
        Stop();
      }
    });
    StartWatchdog();
    log::info("ferryd {} serving {} (state in {})", FERRY_VERSION, config_.socket.string(),
              config_.state_dir.string());
    sd_notify(0, "READY=1");
    io_.run();
    sd_notify(0, "STOPPING=1");
    control.Stop();
    log::info("ferryd stopped");
    return Ok();
  }

  void Stop() override {
    asio::post(io_, [this] {
      boost::system::error_code ec;
      signals_.cancel(ec);
      io_.stop();
    });
  }

 private:
  std::map<std::string, control::Handler> Handlers() {
    return {
        {"status", control::Sync([this](const control::Json&) -> Result<control::Json> {
           return BuildStatus(*store_, AgentInfo{&config_, started_});
         })},
        {"ping", control::Sync([](const control::Json&) -> Result<control::Json> {
           return control::Json{{"version", FERRY_VERSION}};
         })},
    };
  }

  // Under systemd with WatchdogSec=, ping at half the interval; a wedged loop stops the pings and
  // systemd restarts us.
  void StartWatchdog() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
      return;
    }
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
    PingWatchdog();
  }

  void PingWatchdog() {
    sd_notify(0, "WATCHDOG=1");
    clock_.After(watchdog_interval_, [this] { PingWatchdog(); });
  }

  config::Config config_;
  std::unique_ptr<store::StateStore> store_;
  asio::io_context io_;
  AsioClock clock_;
  asio::signal_set signals_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::microseconds watchdog_interval_{0};
};

}  // namespace

Result<std::unique_ptr<Daemon>> CreateDaemon(const config::Config& config) {
  if (auto st = fs::MakeDirs(config.state_dir, 0700); !st) {
    return Fail(st.error().WithContext("state directory"));
  }
  auto store = store::OpenStateStore(config.state_dir / "state.db");
  if (!store) {
    return Fail(store.error().WithContext("state database"));
  }
  return std::unique_ptr<Daemon>(new DaemonImpl(config, std::move(*store)));
}

}  // namespace ferry::daemon
