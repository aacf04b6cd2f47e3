#include "ferry/daemon/daemon.hpp"

#include <systemd/sd-daemon.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>
#include <thread>

#include "app_logs.hpp"
#include "ferry/bundle/bundle.hpp"
#include "ferry/control/control.hpp"
#include "ferry/core/asio_clock.hpp"
#include "ferry/core/crashpoint.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/memory.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/health/health_checker.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "ferry/runtime/runc_runtime.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/fetch_settings.hpp"
#include "ferry/update/offline_installer.hpp"
#include "ferry/update/remote_installer.hpp"
#include "ferry/update/state_store_resume.hpp"
#include "fleet_agent.hpp"
#include "poll_scheduler.hpp"
#include "requests.hpp"
#include "startup.hpp"
#include "status.hpp"
#include "supervisor.hpp"
#include "views.hpp"
#include "watchdog.hpp"

namespace ferry::daemon {
namespace {

namespace asio = boost::asio;
using Json = control::Json;

runtime::RuncConfig RuntimeConfig(const config::Config& c, const engine::Layout& layout,
                                  const CancelToken* stop) {
  runtime::RuncConfig r;
  r.cancel = stop;
  r.binary = c.runtime.runc;
  r.root = c.runtime.root;
  r.state_dir = layout.root();
  r.log_dir = layout.logs();
  r.log_max_bytes = c.runtime.log_max_bytes;
  r.cgroups_parent = c.runtime.cgroup_parent;
  return r;
}

// How long shutdown waits for the work in progress to notice the stop. Every step checks it far
// more often than this, and a health probe or runtime command in flight is cut short by it (its
// socket closed, its process killed and reaped), so this bound is a last resort: past it ferryd
// exits anyway, since its state is crash-safe by design. Well under a second, so that ferryd is
// gone within one even on a loaded device.
constexpr std::chrono::milliseconds kStopBound{700};

// How long ferryd is left alone before it gives back what the last update or request used.
constexpr std::chrono::seconds kIdleRelease{2};

// ferryd's event loop and the clock whose timers run on it; made before the state database, which
// reads its record times from the clock.
struct EventLoop {
  asio::io_context io;
  AsioClock clock{io};
};

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(config::Config config, engine::Layout layout, std::unique_ptr<EventLoop> loop,
             std::unique_ptr<store::StateStore> store, UniqueFd state_lock,
             std::optional<gid_t> control_group)
      : config_(std::move(config)),
        layout_(std::move(layout)),
        state_lock_(std::move(state_lock)),
        control_group_(control_group),
        loop_(std::move(loop)),
        io_(loop_->io),
        clock_(loop_->clock),
        store_(std::move(store)),
        reporter_(*store_),
        signals_(io_, SIGTERM, SIGINT),
        started_(std::chrono::steady_clock::now()),
        runtime_(RuntimeConfig(config_, layout_, &cancel_)),
        engine_(layout_, *store_, reporter_, runtime_, clock_, sleeper_,
                EngineOptions(config_, &cancel_)),
        offline_(engine_, *store_, layout_, clock_,
                 update::OfflineOptions{config_.trusted_root, config_.limits}),
        supervisor_(
            clock_, runtime_, *store_,
            // The configuration has checked the name already.
            ParseRestartPolicy(config_.supervise.restart).value_or(RestartPolicy::kAlways),
            [this](std::function<void()> fn) { OnWorkerThread("supervising", std::move(fn)); },
            PidfdWatcher(io_),
            [this](const std::string& app) { return engine_.RestartCurrent(app); }) {
    supervisor_.SetStop(&cancel_);
    supervisor_.SetAfterCommit(Supervisor::AfterCommit{
        [this](const std::string& app, const std::string& revision, const std::string& reason) {
          return engine_.FailProbation(app, revision, reason);
        },
        [this](const std::string& app, const std::string& revision) {
          return engine_.HealthCheckOf(app, revision);
        },
        [this](const std::string& kind, const std::string& app, const std::string& revision,
               const std::string& reason) {
          std::string version;
          if (auto rec = store_->GetRevision(revision)) {
            version = rec->version;
          }
          if (auto st = reporter_.Record(
                  report::Event{.kind = kind, .app = app, .version = version, .reason = reason});
              !st) {
            log::warn("{}: recording a {} event: {}", app, kind, st.error().message());
          }
        }});
    if (!config_.repository_url.empty()) {
      fetch::CurlOptions curl;
      curl.proxy = config_.proxy;
      curl.ca_file = config_.ca_file.string();
      curl.total_timeout = std::chrono::seconds(120);
      curl.cancel = &cancel_;
      metadata_http_ = fetch::MakeCurlHttpClient(curl);
      resume_ = update::MakeStateStoreResume(*store_);
      fetch::BlobFetcherOptions blob_options;
      update::ApplyConfig(config_, blob_options);
      blob_options.resume_store = resume_.get();
      blob_fetcher_ = fetch::MakeCurlBlobFetcher(clock_, std::move(blob_options));
      installer_ = std::make_unique<update::RemoteInstaller>(
          engine_, reporter_, *store_, layout_, *metadata_http_, *blob_fetcher_, clock_,
          update::RemoteOptions{config_.repository_url, config_.trusted_root, config_.limits});
    }
    if (!config_.server_url.empty() && installer_) {
      net_.emplace(1);
      fleet_ = std::make_unique<FleetAgent>(
          *store_, reporter_, config_, clock_,
          [this](const std::string& token) {
            fleetclient::ClientOptions o;
            o.base_url = config_.server_url;
            o.token = token;
            o.ca_file = config_.ca_file.string();
            o.cert_file = config_.client_cert.string();
            o.key_file = config_.client_key.string();
            o.proxy = config_.proxy;
            o.cancel = &cancel_;
            return fleetclient::MakeFleetClient(clock_, std::move(o));
          },
          [this](const fleetclient::AssignedApp& a) { QueueAssigned(a); });
      fleet_->SetSupervision([this](const std::string& app) {
        const auto supervised = supervisor_.Snapshot();
        auto it = supervised.find(app);
        return SupervisionJson(it == supervised.end() ? nullptr : &it->second,
                               supervisor_.policy());
      });
      polls_ = std::make_unique<PollScheduler>(
          clock_, io_, *net_, *fleet_,
          std::chrono::duration_cast<std::chrono::milliseconds>(config_.poll_interval),
          config_.server_url, [this] { AfterTalkingToServer(); });
    }
    requests_.emplace(
        RequestTargets{*store_, engine_, offline_, installer_.get(), fleet_.get(), cancel_});
  }

  Status Run() override {
    control::AccessPolicy access;
    access.read_group = control_group_;
    std::map<std::string, control::Handler> handlers;
    for (auto& [name, handler] : Handlers()) {
      handlers[name] = [this, handler = std::move(handler)](const Json& params,
                                                            control::Reply reply) {
        handler(params, [this, reply = std::move(reply)](Result<Json> result) {
          reply(std::move(result));
          ReleaseWhenIdle();  // what serving it faulted in (SQLite, JSON, status code)
        });
      };
    }
    control::ControlServer control(io_, config_.socket, std::move(handlers), access);
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
    OnWorkerThread("recovery", [this] {
      if (auto st = engine_.Recover(); !st) {
        log::error("recovery: {}", st.error().message());
      }
      // What an offline install a crash cut short left: its unpacked bundle; of a download, what
      // cannot be resumed. Complete blobs and resumable downloads stay, so that the next attempt
      // (a fleet's assignment, or `ferry update` again) goes on from them; the next install
      // removes what it does not need.
      if (auto st = offline_.SweepInterrupted(); !st) {
        log::warn("removing incoming/: {}", st.error().message());
      }
      if (installer_) {
        (void)installer_->SweepInterruptedDownloads();
      }
      supervisor_.Sync();  // the adopted containers and those recovery started
      recovering_ = false;
      ReleaseWhenIdle();
    });
    watchdog_.Start();
    if (polls_) {
      polls_->Start();
    }
    log::info("ferryd {} serving {} (state in {})", FERRY_VERSION, config_.socket.string(),
              config_.state_dir.string());
    sd_notify(0, "READY=1");
    io_.run();
    sd_notify(0, "STOPPING=1");
    const auto stopping_since = std::chrono::steady_clock::now();
    control.Stop();
    CancelWork();
    // Work queued behind the one in progress is dropped: its caller's connection is closed, and
    // a fleet assignment comes again at the next poll.
    worker_.stop();
    if (net_) {
      net_->stop();
    }
    std::promise<void> joined;
    auto done = joined.get_future();
    std::thread joiner([this, &joined] {
      worker_.join();
      if (net_) {
        net_->join();
      }
      joined.set_value();
    });
    if (done.wait_until(stopping_since + kStopBound) == std::future_status::timeout) {
      // Nothing is lost by not waiting: every step's state on disk and in the database is one a
      // crash could leave, and the next start resumes or cleans it.
      log::warn(
          "ferryd stopped without waiting for {}, which did not stop within {} ms; the "
          "next start resumes or cleans up after it",
          Activity(), kStopBound.count());
      std::fflush(nullptr);
      std::_Exit(0);
    }
    joiner.join();
    log::info("ferryd stopped");
    return Ok();
  }

  void Stop() override {
    CancelWork();
    asio::post(io_, [this] {
      boost::system::error_code ec;
      signals_.cancel(ec);
      io_.stop();
    });
  }

 private:
  // `stop` is cancel_, taken before it is constructed: only kept, used after.
  static engine::EngineOptions EngineOptions(const config::Config& c, const CancelToken* stop) {
    engine::EngineOptions o;
    o.stop_grace = std::chrono::duration_cast<std::chrono::milliseconds>(c.runtime.stop_timeout);
    o.keep_revisions = c.limits.keep_revisions;
    // The configuration has checked the name already.
    o.rootfs = engine::ParseRootfsMode(c.runtime.rootfs).value_or(engine::RootfsMode::kAuto);
    o.stop = stop;
    return o;
  }

  // An update verifies, decompresses and unpacks with large transient buffers and code (TLS, zstd,
  // libarchive) the agent does not need while it waits: give both back between updates.
  static void ReleaseMemory() {
    (void)ReleaseIdleMemory();
    ReleaseUnusedStack();
  }

  // Gives memory back once ferryd has been left alone for kIdleRelease after an update, a request
  // or recovery: what they faulted in (the code of SQLite, of the status report, of the reply)
  // would otherwise stay resident until the next update. Once a burst is over, not after each
  // request: a status polled every second would fault its code back in each time. Nothing is
  // armed while nothing happens, so an idle ferryd still never wakes up for it. Any thread.
  void ReleaseWhenIdle() {
    std::lock_guard lock(idle_mu_);
    if (idle_release_) {
      clock_.Cancel(*idle_release_);
    }
    idle_release_ = clock_.After(kIdleRelease, [this] {
      {
        std::lock_guard relock(idle_mu_);
        idle_release_.reset();
      }
      ReleaseUnusedStack();  // the event loop's
      OnWorkerThread("giving memory back", [] { ReleaseMemory(); });
    });
  }

  // Between polls minutes apart, nothing of a poll is kept: its connection is closed and what it
  // faulted in (the code of curl, TLS and JSON) is given back once ferryd is left alone. On the
  // network thread.
  void AfterTalkingToServer() {
    fleet_->CloseConnection();
    ReleaseUnusedStack();  // what curl and TLS used of the network thread's
    ReleaseWhenIdle();
  }

  // Ends the work in progress at its next check (a tar entry or 4 MiB of unpacking, 128 KiB of
  // hashing, a trial's wait, a download's progress tick) or at once (a health probe's connect or
  // read, a runc command or exec'd probe command, killed and reaped); what it leaves is resumed
  // or cleaned by the next start. Safe from any thread, and more than once.
  void CancelWork() {
    sleeper_.Cancel();
    cancel_.Cancel();
    ReleaseCrashpointPauses();
  }

  // Runs `fn` on the worker; `what` names it in the log if shutdown cannot wait for it.
  void OnWorkerThread(std::string what, std::function<void()> fn) {
    asio::post(worker_, [this, what = std::move(what), fn = std::move(fn)] {
      SetActivity(what);
      fn();
      SetActivity("");
    });
  }

  void SetActivity(std::string what) {
    std::lock_guard lock(activity_mu_);
    activity_ = std::move(what);
  }

  // What the worker does now, with the step of each update in flight.
  std::string Activity() {
    std::string what;
    {
      std::lock_guard lock(activity_mu_);
      what = activity_.empty() ? "the worker" : activity_;
    }
    for (const auto& [app, progress] : reporter_.InFlight()) {
      what += " (" + app + ": " + progress.step + ")";
    }
    return what;
  }

  // Runs `fn` on the worker and replies with its result.
  control::Handler OnWorker(std::string what, std::function<Result<Json>(const Json&)> fn) {
    return [this, what = std::move(what), fn = std::move(fn)](const Json& params,
                                                              control::Reply reply) {
      OnWorkerThread(what, [this, fn, params, reply = std::move(reply)] {
        reply(fn(params));
        supervisor_.Sync();  // whatever now runs as current
        ReleaseWhenIdle();
      });
    };
  }

  std::map<std::string, control::Handler> Handlers() {
    return {
        {"status", control::Sync([this](const Json&) -> Result<Json> { return StatusReport(); })},
        {"ping", control::Sync([](const Json&) -> Result<Json> {
           return Json{{"version", FERRY_VERSION}};
         })},
        {"history",
         control::Sync([this](const Json& p) -> Result<Json> { return HistoryView(*store_, p); })},
        {"why",
         control::Sync([this](const Json& p) -> Result<Json> { return WhyView(*store_, p); })},
        {"logs", control::Sync([this](const Json& p) -> Result<Json> {
           auto request = ParseLogRequest(p);
           if (!request) {
             return Fail(request.error());
           }
           return ReadAppLogs(*store_, layout_, *request);
         })},
        {"revert",
         OnWorker("revert",
                  [this](const Json& p) -> Result<Json> { return requests_->Revert(p); })},
        {"install",
         [this](const Json& p, control::Reply reply) {
           // Opened here, on the event loop, where the open cannot block: a refusal (a FIFO, a
           // device, a symlink) comes at once, even while the worker is busy with an update.
           auto file = Requests::OpenBundle(p);
           if (!file) {
             log::warn("install: {}", file.error().message());
             reply(Fail(file.error()));
             return;
           }
           auto shared = std::make_shared<bundle::BundleFile>(std::move(*file));
           const bool retry_bad =
               p.contains("retry_bad") && p["retry_bad"].is_boolean() && p["retry_bad"].get<bool>();
           if (!Requests::Waits(p)) {
             reply(Json{{"accepted", true}, {"bundle", shared->path().string()}});
             reply = [](const Result<Json>&) {};  // Install logs its outcome
           }
           OnWorkerThread("install " + shared->path().string(),
                          [this, shared, retry_bad, reply = std::move(reply)] {
                            reply(requests_->Install(*shared, retry_bad));
                            supervisor_.Sync();
                            ReleaseWhenIdle();
                          });
         }},
        {"update",
         [this](const Json& p, control::Reply reply) {
           if (auto checked = requests_->CheckUpdate(p); !checked) {
             reply(Fail(checked.error()));
             return;
           }
           if (!Requests::Waits(p)) {
             reply(Json{{"accepted", true},
                        {"app", p["app"].get<std::string>()},
                        {"version", p["version"].get<std::string>()}});
             reply = [](const Result<Json>&) {};  // Update logs its outcome
           }
           OnWorkerThread("update", [this, p, reply = std::move(reply)] {
             reply(requests_->Update(p));
             supervisor_.Sync();
             ReleaseWhenIdle();
           });
         }},
        {"retry",
         OnWorker("retry", [this](const Json& p) -> Result<Json> { return requests_->Retry(p); })},
        {"check",
         [this](const Json&, control::Reply reply) {
           if (!fleet_) {
             reply(Fail(Errc::kFailedPrecondition,
                        "no fleet server is configured (set server_url in ferryd.toml)"));
             return;
           }
           // Asked for by a person: failed releases are tried again now, not after their backoff.
           asio::post(*net_, [this, reply = std::move(reply)] {
             fleet_->ResetBackoff();
             auto round = polls_->Round();
             fleet_->CloseConnection();
             reply(std::move(round));
           });
         }},
    };
  }

  Result<Json> StatusReport() {
    auto status =
        BuildStatus(*store_, AgentInfo{&config_, started_, recovering_.load(), clock_.WallNow()});
    if (!status) {
      return status;
    }
    AddUpdates(*status, reporter_.InFlight(), clock_.Now());
    AddSupervision(*status, supervisor_.Snapshot(), supervisor_.policy());
    return status;
  }

  // Installs an assigned release on the worker, then reports to the server at once.
  void QueueAssigned(const fleetclient::AssignedApp& a) {
    log::info("the fleet server assigns {} {} (deployment {})", a.app, a.version, a.deployment);
    OnWorkerThread(
        "install " + a.app + " " + a.version + " (deployment " + a.deployment + ")", [this, a] {
          auto r = installer_->Install(
              a.app, a.version,
              engine::InstallOptions{a.deployment, {}, a.retry_bad ? RetriedBy(a) : ""}, &cancel_);
          fleet_->Finished(a, r);
          supervisor_.Sync();
          ReleaseWhenIdle();
          asio::post(*net_, [this] {
            if (auto d = fleet_->DeliverEvents(); !d) {
              log::warn("fleet server {}: {}", config_.server_url, d.error().message());
            }
            if (auto i = fleet_->SendInventory(false); !i) {
              log::warn("fleet server {}: {}", config_.server_url, i.error().message());
            }
            AfterTalkingToServer();
          });
        });
  }

  config::Config config_;
  const engine::Layout layout_;  // every path under config_.state_dir
  UniqueFd state_lock_;          // held while ferryd runs
  std::optional<gid_t> control_group_;
  std::unique_ptr<EventLoop> loop_;
  asio::io_context& io_;
  AsioClock& clock_;
  std::unique_ptr<store::StateStore> store_;  // reads loop_'s clock
  report::OutboxReporter reporter_;  // progress and events of every update, for status and fleet
  asio::signal_set signals_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<bool> recovering_{true};  // until the start-up recovery on the worker is done
  Watchdog watchdog_{clock_};
  runtime::RuncRuntime runtime_;
  health::RealSleeper sleeper_;
  engine::Engine engine_;
  update::OfflineInstaller offline_;
  Supervisor supervisor_;      // its work runs on worker_, its exits and timers on io_
  fetch::CancelToken cancel_;  // cancelled at shutdown
  std::unique_ptr<fetch::HttpClient> metadata_http_;
  std::unique_ptr<fetch::ResumeStore> resume_;
  std::unique_ptr<fetch::BlobFetcher> blob_fetcher_;
  std::unique_ptr<update::RemoteInstaller> installer_;  // null without a repository
  std::unique_ptr<FleetAgent> fleet_;                   // null without a fleet server
  std::unique_ptr<PollScheduler> polls_;                // null without a fleet server
  std::optional<Requests> requests_;
  std::mutex activity_mu_;
  std::string activity_;  // what the worker runs now, for the log at shutdown
  // One worker for everything that blocks (staging, runc, trials); updates run one at a time.
  asio::thread_pool worker_{1};
  // One thread for talking to the fleet server, so a slow server never holds up an update; none
  // without a fleet server (an idle thread still costs its stack and its malloc arena).
  std::optional<asio::thread_pool> net_;
  std::mutex idle_mu_;
  std::optional<Clock::TimerId> idle_release_;  // armed by ReleaseWhenIdle
};

}  // namespace

Result<std::unique_ptr<Daemon>> CreateDaemon(const config::Config& config) {
  if (auto st = fs::MakeDirs(config.state_dir, 0700); !st) {
    return Fail(st.error().WithContext("state directory"));
  }
  auto group = ControlGroup(config.control_group);
  if (!group) {
    return Fail(group.error().WithContext("control socket"));
  }
  // Before anything in the directory is opened: two agents would corrupt each other's work.
  engine::Layout layout(config.state_dir);
  auto lock = LockStateDir(layout);
  if (!lock) {
    return Fail(lock.error());
  }
  auto loop = std::make_unique<EventLoop>();
  auto store = store::OpenStateStore(layout.database(), loop->clock);
  if (!store) {
    return Fail(store.error().WithContext("state database"));
  }
  // Writes to a peer that went away must be errors, not a signal that kills the agent.
  std::signal(SIGPIPE, SIG_IGN);
  return std::unique_ptr<Daemon>(new DaemonImpl(config, std::move(layout), std::move(loop),
                                                std::move(*store), std::move(*lock), *group));
}

}  // namespace ferry::daemon
