#include "ferry/daemon/daemon.hpp"

#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <cstdlib>

#include "ferry/bundle/bundle.hpp"
#include "ferry/control/control.hpp"
#include "ferry/core/asio_clock.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/health/health_checker.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/runtime/runc_runtime.hpp"
#include "ferry/store/state_store.hpp"
#include "status.hpp"

namespace ferry::daemon {
namespace {

namespace asio = boost::asio;
using Json = control::Json;

runtime::RuncConfig RuntimeConfig(const config::Config& c) {
  runtime::RuncConfig r;
  r.binary = c.runtime.runc;
  r.root = c.runtime.root;
  r.state_dir = c.state_dir;
  r.log_dir = c.state_dir / "logs";
  r.log_max_bytes = c.runtime.log_max_bytes;
  return r;
}

Json ResultJson(const engine::InstallResult& r) {
  return Json{{"outcome", std::string(engine::OutcomeName(r.outcome))},
              {"revision", r.revision},
              {"reason", r.reason}};
}

Result<std::string> AppParam(const Json& params) {
  if (!params.contains("app") || !params["app"].is_string() ||
      !manifest::IsValidName(params["app"].get<std::string>())) {
    return Fail(Errc::kInvalidArgument, "a valid \"app\" name is required");
  }
  return params["app"].get<std::string>();
}

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(config::Config config, std::unique_ptr<store::StateStore> store)
      : config_(std::move(config)),
        store_(std::move(store)),
        clock_(io_),
        signals_(io_, SIGTERM, SIGINT),
        started_(std::chrono::steady_clock::now()),
        runtime_(RuntimeConfig(config_)),
        engine_(engine::Layout(config_.state_dir), *store_, runtime_, clock_, sleeper_,
                EngineOptions(config_)) {}

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
    // Recovery first: everything asked of the engine queues behind it on the worker.
    asio::post(worker_, [this] {
      if (auto st = engine_.Recover(); !st) {
        log::error("recovery: {}", st.error().message());
      }
    });
    StartWatchdog();
    log::info("ferryd {} serving {} (state in {})", FERRY_VERSION, config_.socket.string(),
              config_.state_dir.string());
    sd_notify(0, "READY=1");
    io_.run();
    sd_notify(0, "STOPPING=1");
    control.Stop();
    // A trial in progress ends at its next wait; its journal stays open for the next start.
    sleeper_.Cancel();
    worker_.join();
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
  static engine::EngineOptions EngineOptions(const config::Config& c) {
    engine::EngineOptions o;
    o.stop_grace = std::chrono::duration_cast<std::chrono::milliseconds>(c.runtime.stop_timeout);
    o.keep_revisions = c.limits.keep_revisions;
    return o;
  }

  // Runs `fn` on the worker and replies with its result.
  control::Handler OnWorker(std::function<Result<Json>(const Json&)> fn) {
    return [this, fn = std::move(fn)](const Json& params, control::Reply reply) {
      asio::post(worker_, [fn, params, reply = std::move(reply)] { reply(fn(params)); });
    };
  }

  std::map<std::string, control::Handler> Handlers() {
    return {
        {"status", control::Sync([this](const Json&) -> Result<Json> { return StatusReport(); })},
        {"ping", control::Sync([](const Json&) -> Result<Json> {
           return Json{{"version", FERRY_VERSION}};
         })},
        {"history", control::Sync([this](const Json& p) -> Result<Json> { return History(p); })},
        {"why", control::Sync([this](const Json& p) -> Result<Json> { return Why(p); })},
        {"revert", OnWorker([this](const Json& p) -> Result<Json> { return Revert(p); })},
        {"install", OnWorker([this](const Json& p) -> Result<Json> { return Install(p); })},
    };
  }

  Result<Json> StatusReport() {
    auto status = BuildStatus(*store_, AgentInfo{&config_, started_});
    if (!status) {
      return status;
    }
    const auto in_flight = engine_.InFlight();
    for (auto& app : (*status)["apps"]) {
      auto it = in_flight.find(app["name"].get<std::string>());
      if (it == in_flight.end()) {
        continue;
      }
      app["update"] = Json{{"step", it->second.step},
                           {"revision", it->second.revision},
                           {"version", it->second.version},
                           {"bytes_done", it->second.bytes_done},
                           {"bytes_total", it->second.bytes_total}};
    }
    return status;
  }

  Result<Json> History(const Json& params) {
    auto app = AppParam(params);
    if (!app) {
      return Fail(app.error());
    }
    if (auto rec = store_->GetApp(*app); !rec) {
      return Fail(rec.error());
    }
    auto revs = store_->ListRevisions(*app);
    if (!revs) {
      return Fail(revs.error());
    }
    Json out = Json::array();
    for (const auto& r : *revs) {
      Json steps = Json::array();
      if (auto list = store_->ListSteps(r.id)) {
        for (const auto& s : *list) {
          Json step{{"step", s.step}, {"started_at", Millis(s.started_at)}};
          step["duration_ms"] =
              s.finished_at ? Json(Millis(*s.finished_at) - Millis(s.started_at)) : Json(nullptr);
          steps.push_back(step);
        }
      }
      out.push_back(Json{{"revision", r.id},
                         {"version", r.version},
                         {"state", std::string(store::ToString(r.state))},
                         {"bad", r.bad},
                         {"reason", r.reason},
                         {"manifest_digest", r.manifest_digest},
                         {"created_at", Millis(r.created_at)},
                         {"steps", steps}});
    }
    return Json{{"app", *app}, {"revisions", out}};
  }

  Result<Json> Why(const Json& params) {
    auto app = AppParam(params);
    if (!app) {
      return Fail(app.error());
    }
    if (auto rec = store_->GetApp(*app); !rec) {
      return Fail(rec.error());
    }
    auto revs = store_->ListRevisions(*app);
    if (!revs) {
      return Fail(revs.error());
    }
    for (auto it = revs->rbegin(); it != revs->rend(); ++it) {
      if (it->bad || it->state == store::RevisionState::kFailed ||
          it->state == store::RevisionState::kRolledBack) {
        return Json{{"app", *app},
                    {"failure",
                     {{"revision", it->id},
                      {"version", it->version},
                      {"state", std::string(store::ToString(it->state))},
                      {"bad", it->bad},
                      {"reason", it->reason},
                      {"at", Millis(it->updated_at)}}}};
      }
    }
    return Json{{"app", *app}, {"failure", nullptr}};
  }

  Result<Json> Revert(const Json& params) {
    auto app = AppParam(params);
    if (!app) {
      return Fail(app.error());
    }
    std::optional<std::string> revision;
    if (params.contains("revision") && params["revision"].is_string()) {
      revision = params["revision"].get<std::string>();
    }
    auto r = engine_.Revert(*app, revision);
    if (!r) {
      return Fail(r.error());
    }
    return ResultJson(*r);
  }

  Result<Json> Install(const Json& params) {
    if (!params.contains("bundle") || !params["bundle"].is_string()) {
      return Fail(Errc::kInvalidArgument, "\"bundle\" (a path) is required");
    }
    const std::filesystem::path bundle = params["bundle"].get<std::string>();
    if (!bundle.is_absolute()) {
      return Fail(Errc::kInvalidArgument, "the bundle path must be absolute");
    }
    const auto work = config_.state_dir / "incoming" / "bundle";
    if (auto st = layers::RemoveTree(work); !st) {
      return Fail(st.error());
    }
    if (auto st = fs::MakeDirs(work, 0700); !st) {
      return Fail(st.error());
    }
    auto release =
        bundle::OpenBundle(bundle, work, store_->Metadata(), config_.trusted_root, clock_);
    if (!release) {
      (void)layers::RemoveTree(work);
      log::error("install {}: {}", bundle.string(), release.error().message());
      return Fail(release.error());
    }
    engine::DirBlobProvider blobs(release->dir);
    auto r = engine_.Install(release->manifest, release->manifest_bytes, blobs);
    (void)layers::RemoveTree(work);
    if (!r) {
      return Fail(r.error());
    }
    Json out = ResultJson(*r);
    out["app"] = release->manifest.app;
    out["version"] = release->manifest.version.String();
    return out;
  }

  static std::int64_t Millis(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
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
  runtime::RuncRuntime runtime_;
  health::RealSleeper sleeper_;
  engine::Engine engine_;
  // One worker for everything that blocks (staging, runc, trials); updates run one at a time.
  asio::thread_pool worker_{1};
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
  // Writes to a peer that went away must be errors, not a signal that kills the agent.
  std::signal(SIGPIPE, SIG_IGN);
  return std::unique_ptr<Daemon>(new DaemonImpl(config, std::move(*store)));
}

}  // namespace ferry::daemon
