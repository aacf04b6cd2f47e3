#include "supervisor.hpp"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <memory>

#include "ferry/core/log.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/health/probe.hpp"

namespace ferry::daemon {

Result<RestartPolicy> ParseRestartPolicy(std::string_view text) {
  if (text == "always") {
    return RestartPolicy::kAlways;
  }
  if (text == "on-failure") {
    return RestartPolicy::kOnFailure;
  }
  if (text == "never") {
    return RestartPolicy::kNever;
  }
  return Fail(Errc::kInvalidArgument,
              "restart policy '" + std::string(text) + "' is not one of always, on-failure, never");
}

std::string_view RestartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kAlways:
      return "always";
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kNever:
      return "never";
  }
  return "always";
}

bool ShouldRestart(RestartPolicy policy, std::optional<int> exit_code) {
  switch (policy) {
    case RestartPolicy::kAlways:
      return true;
    case RestartPolicy::kOnFailure:
      return !exit_code || *exit_code != 0;
    case RestartPolicy::kNever:
      return false;
  }
  return true;
}

std::chrono::seconds RestartBackoff::Next(Clock::TimePoint started, Clock::TimePoint exited) {
  if (exited - started >= kRestartBackoffReset) {
    next_ = kRestartBackoffFirst;
  }
  const auto wait = next_;
  next_ = std::min(next_ * 2, kRestartBackoffCap);
  return wait;
}

std::string DescribeExit(std::optional<int> exit_code) {
  if (!exit_code) {
    return "ended (status unknown)";
  }
  if (*exit_code > 128 && *exit_code < 128 + 65) {
    const int sig = *exit_code - 128;
    const char* abbrev = ::sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) +
           (abbrev != nullptr ? " (SIG" + std::string(abbrev) + ")" : "");
  }
  return "exited with status " + std::to_string(*exit_code);
}

Supervisor::Supervisor(Clock& clock, runtime::ContainerRuntime& runtime, store::StateStore& store,
                       RestartPolicy policy, PostWork post_work, WatchExit watch_exit,
                       Restart restart)
    : clock_(clock),
      runtime_(runtime),
      store_(store),
      policy_(policy),
      post_work_(std::move(post_work)),
      watch_exit_(std::move(watch_exit)),
      restart_(std::move(restart)) {}

void Supervisor::Sync() {
  auto apps = store_.ListApps();
  if (!apps) {
    log::warn("supervisor: listing apps: {}", apps.error().message());
    return;
  }
  for (const auto& app : *apps) {
    if (app.current_revision) {
      SyncApp(app.name, *app.current_revision);
    }
  }
}

void Supervisor::SyncApp(const std::string& app, const std::string& revision) {
  auto state = runtime_.State(engine::ContainerId(app, revision));
  if (state && state->status == runtime::ContainerStatus::kRunning && state->pid > 0) {
    Watch(app, revision, state->pid);
  }
}

void Supervisor::Watch(const std::string& app, const std::string& revision, int pid) {
  {
    std::lock_guard lock(mu_);
    App& a = apps_[app];
    if (a.pid == pid && a.revision == revision) {
      return;
    }
    a.revision = revision;
    a.pid = pid;
    a.started = clock_.Now();
    a.restart_pending = false;
    a.shown.running = true;
    a.shown.since = clock_.WallNow();
    a.shown.healthy.reset();
    a.liveness_failed = 0;
  }
  std::optional<manifest::HealthCheck> check;
  if (after_commit_.health_check) {
    auto c = after_commit_.health_check(app, revision);
    if (!c) {
      log::warn("{}: no liveness probe: {}", app, c.error().message());
    } else if (c->kind != manifest::CheckKind::kProcess && c->liveness_interval.count() > 0) {
      check = *c;
    }
  }
  {
    std::lock_guard lock(mu_);
    apps_[app].check = check;
  }
  if (check) {
    ScheduleLiveness(app, pid);
  }
  const bool watching = watch_exit_(
      pid, [this, app, pid] { post_work_([this, app, pid] { HandleExit(app, pid); }); });
  if (!watching) {
    post_work_([this, app, pid] { HandleExit(app, pid); });
  }
}

void Supervisor::HandleExit(const std::string& app, int pid) {
  {
    std::lock_guard lock(mu_);
    auto it = apps_.find(app);
    if (it == apps_.end() || it->second.pid != pid) {
      return;  // an exit already handled, or of a container no longer watched
    }
  }
  // Whatever an update did in between (this runs behind it) is the truth now.
  auto rec = store_.GetApp(app);
  if (!rec || !rec->current_revision) {
    std::lock_guard lock(mu_);
    apps_.erase(app);
    return;
  }
  const std::string revision = *rec->current_revision;
  auto state = runtime_.State(engine::ContainerId(app, revision));
  if (state && state->status == runtime::ContainerStatus::kRunning && state->pid > 0 &&
      state->pid != pid) {
    Watch(app, revision, state->pid);  // an update or revert started it anew
    return;
  }
  std::optional<int> exit_code;
  if (state) {
    exit_code = state->exit_code;
  }
  std::chrono::seconds delay{};
  bool restart = false;
  {
    std::lock_guard lock(mu_);
    App& a = apps_[app];
    a.pid = 0;
    a.revision = revision;
    a.shown.running = false;
    a.shown.last_exit = exit_code;
    a.shown.last_exit_at = clock_.WallNow();
    a.shown.since = a.shown.last_exit_at;
    restart = ShouldRestart(policy_, exit_code);
    if (restart) {
      delay = a.backoff.Next(a.started, clock_.Now());
      a.restart_pending = true;
    }
  }
  if (ProbationExit(app, revision, DescribeExit(exit_code))) {
    return;
  }
  if (!restart) {
    log::warn("{}: {} {}; restart policy {} leaves it down", app, revision, DescribeExit(exit_code),
              RestartPolicyName(policy_));
    return;
  }
  log::warn("{}: {} {}; restarting it in {} s", app, revision, DescribeExit(exit_code),
            delay.count());
  ScheduleRestart(app, delay);
}

std::chrono::seconds Supervisor::RetryDelay(const std::string& app) {
  std::lock_guard lock(mu_);
  App& a = apps_[app];
  const auto now = clock_.Now();
  a.restart_pending = true;
  return a.backoff.Next(now, now);
}

void Supervisor::ScheduleRestart(const std::string& app, std::chrono::seconds delay) {
  // The clock fires on the event loop; the restart itself blocks, so it goes to the worker.
  (void)clock_.After(delay, [this, app] { post_work_([this, app] { DoRestart(app); }); });
}

void Supervisor::DoRestart(const std::string& app) {
  {
    std::lock_guard lock(mu_);
    auto it = apps_.find(app);
    if (it == apps_.end() || !it->second.restart_pending) {
      return;
    }
    it->second.restart_pending = false;
  }
  auto st = restart_(app);
  auto rec = store_.GetApp(app);
  if (st && rec && rec->current_revision) {
    std::uint32_t restarts = 0;
    std::string why;
    {
      std::lock_guard lock(mu_);
      App& a = apps_[app];
      restarts = ++a.shown.restarts;
      a.shown.last_restart_reason = "exited";
      why = "exited: " + DescribeExit(a.shown.last_exit);
    }
    auto state = runtime_.State(engine::ContainerId(app, *rec->current_revision));
    if (state && state->status == runtime::ContainerStatus::kRunning && state->pid > 0) {
      log::info("{}: restarted {} (restart {} since ferryd started)", app, *rec->current_revision,
                restarts);
      Event("restarted", app, *rec->current_revision, why);
      Watch(app, *rec->current_revision, state->pid);
      return;
    }
    st = Fail(Errc::kUnavailable, "it ended as soon as it started");
    if (ProbationExit(app, *rec->current_revision, st.error().message())) {
      return;
    }
  } else if (st) {
    st = Fail(Errc::kNotFound, app + " has no current revision");
  }
  const std::chrono::seconds delay = RetryDelay(app);
  log::error("{}: could not restart it: {}; trying again in {} s", app, st.error().message(),
             delay.count());
  ScheduleRestart(app, delay);
}

bool Supervisor::InProbation(const std::string& revision) {
  auto rec = store_.GetRevision(revision);
  return rec && rec->probation_until && *rec->probation_until > clock_.WallNow();
}

bool Supervisor::ProbationExit(const std::string& app, const std::string& revision,
                               const std::string& what) {
  if (!after_commit_.fail_probation || !InProbation(revision)) {
    return false;
  }
  // Counted in the database: ends before a ferryd restart count as much as those after it.
  auto exits = store_.CountRevision(revision, store::RevisionCounter::kProbationExits);
  if (!exits) {
    log::warn("{}: counting an end of {} within its probation: {}", app, revision,
              exits.error().message());
    return false;
  }
  if (*exits < kProbationCrashLoop) {
    log::info("{}: {} ended {} of {} times within its probation", app, revision, *exits,
              kProbationCrashLoop);
    return false;
  }
  return RollBackInProbation(
      app, revision, "crash loop: ended " + std::to_string(*exits) + " times, the last: " + what);
}

bool Supervisor::RollBackInProbation(const std::string& app, const std::string& revision,
                                     const std::string& reason) {
  if (!after_commit_.fail_probation) {
    return false;
  }
  log::error("{}: {} in probation: {}; rolling it back", app, revision, reason);
  if (auto st = after_commit_.fail_probation(app, revision, reason); !st) {
    log::warn("{}: not rolled back: {}", app, st.error().message());
    return false;
  }
  {
    std::lock_guard lock(mu_);
    App& a = apps_[app];
    a.pid = 0;
    a.restart_pending = false;
    a.check.reset();
    a.shown.running = false;
    a.shown.since = clock_.WallNow();
  }
  Sync();  // the revision it went back to
  return true;
}

void Supervisor::ScheduleLiveness(const std::string& app, int pid) {
  Clock::Duration delay{};
  {
    std::lock_guard lock(mu_);
    const App& a = apps_[app];
    if (a.pid != pid || !a.check) {
      return;
    }
    // A process just started gets its start period, as in its trial.
    const auto interval = a.check->liveness_interval;
    const auto wait = a.liveness_failed == 0 && !a.shown.healthy
                          ? std::max(interval, a.check->start_period)
                          : interval;
    delay = std::chrono::duration_cast<Clock::Duration>(wait);
  }
  // One timer per app at its interval: nothing wakes ferryd in between.
  (void)clock_.After(
      delay, [this, app, pid] { post_work_([this, app, pid] { LivenessProbe(app, pid); }); });
}

void Supervisor::LivenessProbe(const std::string& app, int pid) {
  manifest::HealthCheck check;
  std::string revision;
  {
    std::lock_guard lock(mu_);
    auto it = apps_.find(app);
    if (it == apps_.end() || it->second.pid != pid || !it->second.check) {
      return;  // a process no longer watched: its chain of probes ends here
    }
    check = *it->second.check;
    revision = it->second.revision;
  }
  const std::string id = engine::ContainerId(app, revision);
  auto probe = health::MakeProbe(check, runtime_, id, stop_);
  if (!probe) {
    return;
  }
  const health::ProbeResult result =
      probe->Run(std::chrono::ceil<std::chrono::milliseconds>(check.timeout));
  if (result.cancelled) {
    return;  // ferryd is stopping; the next start watches the app again
  }
  int failed = 0;
  {
    std::lock_guard lock(mu_);
    App& a = apps_[app];
    if (a.pid != pid) {
      return;
    }
    a.shown.healthy = result.healthy;
    a.liveness_failed = result.healthy ? 0 : a.liveness_failed + 1;
    failed = a.liveness_failed;
  }
  if (result.healthy || failed < check.liveness_failures) {
    if (!result.healthy) {
      log::warn("{}: liveness check failed ({} of {}): {}", app, failed, check.liveness_failures,
                result.output.substr(0, 256));
    }
    ScheduleLiveness(app, pid);
    return;
  }
  const std::string what = std::string(manifest::KindName(check.kind)) + " check failed " +
                           std::to_string(failed) +
                           " times in a row: " + result.output.substr(0, 256);
  if (InProbation(revision) && RollBackInProbation(app, revision, "unhealthy: " + what)) {
    return;
  }
  log::warn("{}: {} is unhealthy ({}); restarting it", app, revision, what);
  {
    std::lock_guard lock(mu_);
    App& a = apps_[app];
    a.pid = 0;  // its end, seen by the pidfd, is ours
    a.shown.running = false;
    a.shown.since = clock_.WallNow();
  }
  if (auto st = runtime_.Stop(id, kUnhealthyStopGrace); !st) {
    log::warn("{}: stopping {}: {}", app, id, st.error().message());
  }
  auto st = restart_(app);
  auto state = runtime_.State(id);
  if (st && state && state->status == runtime::ContainerStatus::kRunning && state->pid > 0) {
    {
      std::lock_guard lock(mu_);
      App& a = apps_[app];
      ++a.shown.restarts;
      a.shown.last_restart_reason = "unhealthy";
    }
    Event("restarted", app, revision, "unhealthy: " + what);
    Watch(app, revision, state->pid);
    return;
  }
  const std::chrono::seconds delay = RetryDelay(app);
  log::error("{}: could not restart it after it turned unhealthy: {}; trying again in {} s", app,
             st ? std::string("it ended as soon as it started") : st.error().message(),
             delay.count());
  ScheduleRestart(app, delay);
}

void Supervisor::Event(const std::string& kind, const std::string& app, const std::string& revision,
                       const std::string& reason) {
  if (after_commit_.event) {
    after_commit_.event(kind, app, revision, reason);
  }
}

std::map<std::string, Supervision> Supervisor::Snapshot() const {
  std::lock_guard lock(mu_);
  std::map<std::string, Supervision> out;
  for (const auto& [name, a] : apps_) {
    out[name] = a.shown;
  }
  return out;
}

namespace {
long long UnixSeconds(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

nlohmann::json SupervisionJson(const Supervision* s, RestartPolicy policy) {
  nlohmann::json out{{"running", s != nullptr && s->running},
                     {"healthy", nullptr},
                     {"restarts", s != nullptr ? s->restarts : 0},
                     {"last_restart_reason", nullptr},
                     {"since", nullptr},
                     {"last_exit", nullptr},
                     {"restart_policy", std::string(RestartPolicyName(policy))}};
  if (s == nullptr) {
    return out;
  }
  if (s->since != Clock::WallTime{}) {
    out["since"] = UnixSeconds(s->since);
  }
  if (s->healthy) {
    out["healthy"] = *s->healthy;
  }
  if (!s->last_restart_reason.empty()) {
    out["last_restart_reason"] = s->last_restart_reason;
  }
  if (s->last_exit_at != Clock::WallTime{}) {
    nlohmann::json exit{{"code", nullptr},
                        {"signal", nullptr},
                        {"description", DescribeExit(s->last_exit)},
                        {"at", UnixSeconds(s->last_exit_at)}};
    if (s->last_exit) {
      exit["code"] = *s->last_exit;
      if (*s->last_exit > 128 && *s->last_exit < 128 + 65) {
        exit["signal"] = *s->last_exit - 128;
      }
    }
    out["last_exit"] = exit;
  }
  return out;
}

Supervisor::WatchExit PidfdWatcher(boost::asio::io_context& io) {
  return [&io](int pid, std::function<void()> on_exit) -> bool {
    // A pidfd turns readable when the process ends: nothing wakes up until then.
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
      if (errno != ESRCH) {
        log::warn("supervisor: cannot watch pid {}: pidfd_open: {}", pid, ::strerror(errno));
      }
      return false;
    }
    boost::asio::post(io, [&io, fd, on_exit = std::move(on_exit)]() mutable {
      auto pidfd = std::make_shared<boost::asio::posix::stream_descriptor>(io, fd);
      pidfd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [pidfd, on_exit = std::move(on_exit)](const boost::system::error_code& ec) {
                          if (!ec) {
                            on_exit();
                          }
                        });
    });
    return true;
  };
}

}  // namespace ferry::daemon
