#include "ferry/daemon/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

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
#include <random>
#include <thread>
#include <vector>

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
#include "ferry/runtime/runc_runtime.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/fetch_settings.hpp"
#include "ferry/update/offline_installer.hpp"
#include "ferry/update/remote_installer.hpp"
#include "ferry/update/state_store_resume.hpp"
#include "fleet_agent.hpp"
#include "status.hpp"
#include "supervisor.hpp"

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

// Resolves `control_group` (a group name or a numeric gid); nullopt when it is empty.
Result<std::optional<gid_t>> ControlGroup(const std::string& name) {
  if (name.empty()) {
    return std::optional<gid_t>();
  }
  std::vector<char> buf(16 * 1024);
  group entry{};
  group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (rc == 0 && found != nullptr) {
    return std::optional<gid_t>(found->gr_gid);
  }
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
      name.size() < 10) {
    return std::optional<gid_t>(static_cast<gid_t>(std::stoul(name)));
  }
  return Fail(Errc::kInvalidArgument, "control_group '" + name + "' is not a group on this system");
}

// One ferryd per state directory: an exclusive flock on its lock file, held for the process's
// life (released by the kernel however it ends), with the holder's pid inside.
Result<UniqueFd> LockStateDir(const engine::Layout& layout) {
  const std::filesystem::path& dir = layout.root();
  const auto path = layout.lock_file();
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return Fail(ErrnoError("open " + path.string()));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return Fail(ErrnoError("flock " + path.string()));
    }
    char pid[32] = {};
    const ssize_t n = ::pread(fd.get(), pid, sizeof(pid) - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
      holder.pop_back();
    }
    return Fail(Errc::kAlreadyExists, "state directory " + dir.string() +
                                          " is in use by another ferryd" +
                                          (holder.empty() ? "" : " (pid " + holder + ")") +
                                          "; it holds " + path.string());
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return Fail(ErrnoError("write " + path.string()));
  }
  return fd;
}

// A download whose bytes have not grown for this long shows no speed in `ferry status`.
constexpr std::chrono::seconds kStalledAfter{2};

// How long shutdown waits for the work in progress to notice the stop. Every step checks it far
// more often than this, and a health probe or runtime command in flight is cut short by it (its
// socket closed, its process killed and reaped), so this bound is a last resort: past it ferryd
// exits anyway, since its state is crash-safe by design. Well under a second, so that ferryd is
// gone within one even on a loaded device.
constexpr std::chrono::milliseconds kStopBound{700};

// How long ferryd is left alone before it gives back what the last update or request used.
constexpr std::chrono::seconds kIdleRelease{2};

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(config::Config config, engine::Layout layout, std::unique_ptr<store::StateStore> store,
             UniqueFd state_lock, std::optional<gid_t> control_group)
      : config_(std::move(config)),
        layout_(std::move(layout)),
        state_lock_(std::move(state_lock)),
        control_group_(control_group),
        store_(std::move(store)),
        clock_(io_),
        signals_(io_, SIGTERM, SIGINT),
        started_(std::chrono::steady_clock::now()),
        runtime_(RuntimeConfig(config_, layout_, &cancel_)),
        engine_(layout_, *store_, runtime_, clock_, sleeper_, EngineOptions(config_, &cancel_)),
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
          if (auto st = engine_.RecordEvent(kind, app, version, reason, ""); !st) {
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
      blob_options.clock = &clock_;
      blob_fetcher_ = fetch::MakeCurlBlobFetcher(std::move(blob_options));
      installer_ = std::make_unique<update::RemoteInstaller>(
          engine_, *store_, layout_, *metadata_http_, *blob_fetcher_, clock_,
          update::RemoteOptions{config_.repository_url, config_.trusted_root, config_.limits});
    }
    if (!config_.server_url.empty() && installer_) {
      net_.emplace(1);
      fleet_ = std::make_unique<FleetAgent>(
          *store_, engine_, config_, clock_,
          [this](const std::string& token) {
            fleetclient::ClientOptions o;
            o.base_url = config_.server_url;
            o.token = token;
            o.ca_file = config_.ca_file.string();
            o.cert_file = config_.client_cert.string();
            o.key_file = config_.client_key.string();
            o.proxy = config_.proxy;
            o.clock = &clock_;
            o.cancel = &cancel_;
            return fleetclient::MakeFleetClient(std::move(o));
          },
          [this](const fleetclient::AssignedApp& a) { QueueAssigned(a); });
      fleet_->SetSupervision([this](const std::string& app) {
        const auto supervised = supervisor_.Snapshot();
        auto it = supervised.find(app);
        return SupervisionJson(it == supervised.end() ? nullptr : &it->second,
                               supervisor_.policy());
      });
    }
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
    StartWatchdog();
    if (fleet_) {
      // The first look soon after start (a device that was off catches up at once), jittered so
      // that a fleet powered up together does not arrive together.
      SchedulePoll(std::chrono::milliseconds(
          Jitter(0, std::min<std::int64_t>(2000, PollInterval().count()))));
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
  static void ReleaseMemory() { (void)ReleaseIdleMemory(); }

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
      OnWorkerThread("giving memory back", [] { ReleaseMemory(); });
    });
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
    for (const auto& [app, progress] : engine_.InFlight()) {
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
        {"history", control::Sync([this](const Json& p) -> Result<Json> { return History(p); })},
        {"why", control::Sync([this](const Json& p) -> Result<Json> { return Why(p); })},
        {"logs", control::Sync([this](const Json& p) -> Result<Json> {
           auto request = ParseLogRequest(p);
           if (!request) {
             return Fail(request.error());
           }
           return ReadAppLogs(*store_, layout_, *request);
         })},
        {"revert", OnWorker("revert", [this](const Json& p) -> Result<Json> { return Revert(p); })},
        {"install",
         [this](const Json& p, control::Reply reply) {
           // Opened here, on the event loop, where the open cannot block: a refusal (a FIFO, a
           // device, a symlink) comes at once, even while the worker is busy with an update.
           auto file = OpenBundleParam(p);
           if (!file) {
             log::warn("install: {}", file.error().message());
             reply(Fail(file.error()));
             return;
           }
           auto shared = std::make_shared<bundle::BundleFile>(std::move(*file));
           const bool retry_bad =
               p.contains("retry_bad") && p["retry_bad"].is_boolean() && p["retry_bad"].get<bool>();
           if (!Waits(p)) {
             reply(Json{{"accepted", true}, {"bundle", shared->path().string()}});
             reply = [](const Result<Json>&) {};  // Install logs its outcome
           }
           OnWorkerThread("install " + shared->path().string(),
                          [this, shared, retry_bad, reply = std::move(reply)] {
                            reply(Install(*shared, retry_bad));
                            supervisor_.Sync();
                            ReleaseWhenIdle();
                          });
         }},
        {"update",
         [this](const Json& p, control::Reply reply) {
           if (auto checked = CheckUpdateParams(p); !checked) {
             reply(Fail(checked.error()));
             return;
           }
           if (!Waits(p)) {
             reply(Json{{"accepted", true},
                        {"app", p["app"].get<std::string>()},
                        {"version", p["version"].get<std::string>()}});
             reply = [](const Result<Json>&) {};  // Update logs its outcome
           }
           OnWorkerThread("update", [this, p, reply = std::move(reply)] {
             reply(Update(p));
             supervisor_.Sync();
             ReleaseWhenIdle();
           });
         }},
        {"retry", OnWorker("retry", [this](const Json& p) -> Result<Json> { return Retry(p); })},
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
             reply(PollRound());
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
    const auto in_flight = engine_.InFlight();
    for (const auto& [name, progress] : in_flight) {
      bool listed = false;
      for (const auto& app : (*status)["apps"]) {
        listed = listed || app["name"] == name;
      }
      if (!listed) {  // a first install, still downloading
        (*status)["apps"].push_back(
            Json{{"name", name}, {"current", nullptr}, {"previous", nullptr}});
      }
    }
    for (auto& app : (*status)["apps"]) {
      auto it = in_flight.find(app["name"].get<std::string>());
      if (it == in_flight.end()) {
        continue;
      }
      // A download that stopped moving (the server died, a retry waits) has no speed, whatever
      // the last second before it measured.
      std::uint64_t speed = it->second.bytes_per_second;
      if (it->second.moved_at != Clock::TimePoint{} &&
          clock_.Now() - it->second.moved_at >= kStalledAfter) {
        speed = 0;
      }
      app["update"] = Json{{"step", it->second.step},
                           {"revision", it->second.revision},
                           {"version", it->second.version},
                           {"bytes_done", it->second.bytes_done},
                           {"bytes_total", it->second.bytes_total},
                           {"bytes_per_second", speed}};
    }
    // What is true now, not at commit: whether the app runs, and how often it had to be restarted.
    const auto supervised = supervisor_.Snapshot();
    for (auto& app : (*status)["apps"]) {
      auto it = supervised.find(app["name"].get<std::string>());
      const Json s =
          SupervisionJson(it == supervised.end() ? nullptr : &it->second, supervisor_.policy());
      for (const auto& [key, value] : s.items()) {
        app[key] = value;
      }
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
                         {"retried", r.retried.empty() ? Json(nullptr) : Json(r.retried)},
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
    Json failure = nullptr;
    std::int64_t failure_at = 0;
    auto rec = store_->GetApp(*app);
    if (!rec && !rec.error().Is(Errc::kNotFound)) {
      return Fail(rec.error());
    }
    if (rec) {
      auto revs = store_->ListRevisions(*app);
      if (!revs) {
        return Fail(revs.error());
      }
      for (auto it = revs->rbegin(); it != revs->rend(); ++it) {
        if (it->bad || it->state == store::RevisionState::kFailed ||
            it->state == store::RevisionState::kRolledBack ||
            it->state == store::RevisionState::kInterrupted) {
          failure_at = Millis(it->updated_at);
          failure = Json{{"revision", it->id},
                         {"version", it->version},
                         {"state", std::string(store::ToString(it->state))},
                         {"bad", it->bad},
                         {"reason", it->reason},
                         {"retried", it->retried.empty() ? Json(nullptr) : Json(it->retried)},
                         {"at", failure_at}};
          break;
        }
      }
    }
    // A release that never became a revision (a blob failing its hash, a release the repository
    // does not list, no space) is on record only as its failed event.
    auto event = store_->LastEvent(*app, "failed");
    if (!event) {
      return Fail(event.error());
    }
    if (*event) {
      const Json payload = Json::parse((*event)->payload, nullptr, false);
      const std::int64_t at = Millis((*event)->created_at);
      if (payload.is_object() && !payload.contains("revision") &&
          (failure.is_null() || at > failure_at)) {
        failure = Json{
            {"revision", nullptr}, {"version", payload.value("version", "")}, {"state", "failed"},
            {"bad", false},        {"reason", payload.value("reason", "")},   {"at", at}};
        if (payload.contains("deployment")) {
          failure["deployment"] = payload["deployment"];
        }
      }
    }
    if (!rec && failure.is_null()) {
      return Fail(rec.error());
    }
    return Json{{"app", *app}, {"failure", failure}};
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
    Json out = ResultJson(*r);
    out["app"] = *app;
    if (auto rev = store_->GetRevision(r->revision)) {
      out["version"] = rev->version;
    }
    return out;
  }

  static Result<bundle::BundleFile> OpenBundleParam(const Json& params) {
    if (!params.contains("bundle") || !params["bundle"].is_string()) {
      return Fail(Errc::kInvalidArgument, "\"bundle\" (a path) is required");
    }
    const std::filesystem::path path = params["bundle"].get<std::string>();
    if (!path.is_absolute()) {
      return Fail(Errc::kInvalidArgument, "the bundle path must be absolute");
    }
    return bundle::BundleFile::Open(path);
  }

  // Lifts the bad mark of app@version on purpose (ferry retry); the next install of it tries it.
  Result<Json> Retry(const Json& params) {
    auto app = AppParam(params);
    if (!app) {
      return Fail(app.error());
    }
    if (!params.contains("version") || !params["version"].is_string() ||
        !manifest::ParseSemVer(params["version"].get<std::string>())) {
      return Fail(Errc::kInvalidArgument, "a valid \"version\" (semver) is required");
    }
    const std::string version = params["version"].get<std::string>();
    auto revisions = engine_.RetryBad(*app, version, "technician (ferry retry)");
    if (!revisions) {
      return Fail(revisions.error());
    }
    if (fleet_) {
      fleet_->ResetBackoff();  // an assignment of it is tried at the next poll
    }
    return Json{{"app", *app}, {"version", version}, {"revisions", *revisions}};
  }

  Result<Json> Install(const bundle::BundleFile& file, bool retry_bad = false) {
    engine::InstallOptions options;
    if (retry_bad) {
      options.retry_bad_by = "technician (ferry install --retry-bad)";
    }
    auto r = offline_.Install(file, options, &cancel_);
    if (!r) {
      log::error("install {}: {}", file.path().string(), r.error().message());
      return Fail(r.error());
    }
    Json out = ResultJson(r->result);
    out["app"] = r->app;
    out["version"] = r->version;
    return out;
  }

  // `"wait": false` in an install or update: reply once the request is accepted, not at its end.
  static bool Waits(const Json& params) {
    return !params.contains("wait") || !params["wait"].is_boolean() || params["wait"].get<bool>();
  }

  Status CheckUpdateParams(const Json& params) const {
    if (auto app = AppParam(params); !app) {
      return Fail(app.error());
    }
    if (!params.contains("version") || !params["version"].is_string() ||
        !manifest::ParseSemVer(params["version"].get<std::string>())) {
      return Fail(Errc::kInvalidArgument, "a valid \"version\" (semver) is required");
    }
    if (!installer_) {
      return Fail(Errc::kFailedPrecondition,
                  "no repository is configured (set server_url or repository_url in ferryd.toml)");
    }
    return Ok();
  }

  // Installs app@version from the repository, as a fleet assignment would (ferry update).
  Result<Json> Update(const Json& params) {
    if (auto checked = CheckUpdateParams(params); !checked) {
      return Fail(checked.error());
    }
    const std::string app = params["app"].get<std::string>();
    const std::string version = params["version"].get<std::string>();
    auto r = installer_->Install(app, version, engine::InstallOptions{}, &cancel_);
    if (!r) {
      log::error("update {} {}: {}", app, version, r.error().message());
      return Fail(r.error());
    }
    Json out = ResultJson(*r);
    out["app"] = app;
    out["version"] = version;
    return out;
  }

  std::chrono::milliseconds PollInterval() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(config_.poll_interval);
  }

  std::int64_t Jitter(std::int64_t lo, std::int64_t hi) {
    std::lock_guard lock(rng_mu_);
    return std::uniform_int_distribution<std::int64_t>(lo, std::max(lo, hi))(rng_);
  }

  // Polls again after `delay`, on the network thread.
  void SchedulePoll(std::chrono::milliseconds delay) {
    clock_.After(delay, [this] {
      asio::post(*net_, [this] {
        (void)PollRound();
        // Every interval ±10%, or later when the server asked for it.
        const auto interval = PollInterval().count();
        std::chrono::milliseconds next(Jitter(interval * 9 / 10, interval * 11 / 10));
        if (auto wait = fleet_->RetryAfter(); wait && *wait > next) {
          next = std::chrono::duration_cast<std::chrono::milliseconds>(*wait);
        }
        asio::post(io_, [this, next] { SchedulePoll(next); });
      });
    });
  }

  Result<Json> PollRound() {
    auto r = fleet_->Round();
    if (!r) {
      log::warn("fleet server {}: {}", config_.server_url, r.error().message());
    }
    return r;
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
          });
        });
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
  const engine::Layout layout_;  // every path under config_.state_dir
  UniqueFd state_lock_;          // held while ferryd runs
  std::optional<gid_t> control_group_;
  std::unique_ptr<store::StateStore> store_;
  asio::io_context io_;
  AsioClock clock_;
  asio::signal_set signals_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<bool> recovering_{true};  // until the start-up recovery on the worker is done
  std::chrono::microseconds watchdog_interval_{0};
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
  std::mutex activity_mu_;
  std::string activity_;  // what the worker runs now, for the log at shutdown
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
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
  auto store = store::OpenStateStore(layout.database());
  if (!store) {
    return Fail(store.error().WithContext("state database"));
  }
  // Writes to a peer that went away must be errors, not a signal that kills the agent.
  std::signal(SIGPIPE, SIG_IGN);
  return std::unique_ptr<Daemon>(
      new DaemonImpl(config, std::move(layout), std::move(*store), std::move(*lock), *group));
}

}  // namespace ferry::daemon
