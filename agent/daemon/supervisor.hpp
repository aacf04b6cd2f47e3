// Supervision: keeps each app's current committed revision running between updates
// (docs/operations.md, Restarts). An app's container that ends is started again under its restart
// policy, after a backoff that doubles from kRestartBackoffFirst to kRestartBackoffCap and starts
// over once a container stayed up kRestartBackoffReset. Exits are seen without polling: the
// container's first process is watched through a pidfd on ferryd's event loop.
//
// Updates come first: the supervisor's runtime work runs on ferryd's worker, behind any update,
// and looks again at what is current before it acts, so a switch or trial (which has its own
// crash-loop logic) is never second-guessed; after it, the new current container is watched.
//
// After the commit (docs/operations.md, Probation and liveness): within a revision's probation,
// kProbationCrashLoop exits, or liveness_failures liveness failures in a row, roll it back (and
// mark it bad) instead of restarting it; after its probation it is only ever restarted. The ends
// are counted in the state database with the probation's end, so a ferryd restart (or kill)
// within probation goes on with the same window and count. The liveness probe runs on one timer per
// app, at the check's liveness_interval_s, on the worker.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/core/cancel_token.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/manifest/health_check.hpp"
#include "ferry/runtime/container_runtime.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::daemon {

enum class RestartPolicy {
  kAlways,     // whatever way it ended (the default)
  kOnFailure,  // unless it exited with status 0
  kNever,      // it stays down; `ferry status` says so
};
// "always", "on-failure", "never"; kInvalidArgument for anything else.
Result<RestartPolicy> ParseRestartPolicy(std::string_view text);
std::string_view RestartPolicyName(RestartPolicy policy);

inline constexpr std::chrono::seconds kRestartBackoffFirst{1};
inline constexpr std::chrono::seconds kRestartBackoffCap{5 * 60};
inline constexpr std::chrono::seconds kRestartBackoffReset{10 * 60};
// Exits within a revision's probation that roll it back.
inline constexpr std::uint32_t kProbationCrashLoop = 3;
// The SIGTERM grace of a container that liveness restarts.
inline constexpr std::chrono::seconds kUnhealthyStopGrace{10};

// Whether an exit with `exit_code` (128 + signal for a signal; nullopt when unknown, taken as a
// failure) calls for a restart under `policy`.
bool ShouldRestart(RestartPolicy policy, std::optional<int> exit_code);

// The wait before each restart of one app.
class RestartBackoff {
 public:
  // The wait before restarting a container that ran from `started` until `exited`: 1 s, 2 s, 4 s
  // ... up to the cap; back to 1 s when it had stayed up kRestartBackoffReset.
  std::chrono::seconds Next(Clock::TimePoint started, Clock::TimePoint exited);

 private:
  std::chrono::seconds next_ = kRestartBackoffFirst;
};

// What `ferry status` shows of an app's supervision.
struct Supervision {
  bool running = false;
  std::uint32_t restarts = 0;       // since ferryd started
  std::optional<int> last_exit;     // exit status, 128 + signal for a signal
  Clock::WallTime last_exit_at{};   // zero when it has not ended since ferryd started
  Clock::WallTime since{};          // when it was last seen to start or end
  std::optional<bool> healthy;      // by its last liveness probe; nullopt: not probed yet
  std::string last_restart_reason;  // "exited" or "unhealthy"; empty before the first restart
};

// "exited with status 3", "killed by signal 9 (SIGKILL)", "ended (status unknown)".
std::string DescribeExit(std::optional<int> exit_code);

class Supervisor {
 public:
  // Runs `fn` on ferryd's worker, behind any update.
  using PostWork = std::function<void(std::function<void()>)>;
  // Calls `on_exit` on the event loop once process `pid` has ended; false when it cannot watch
  // it (for example it has ended already).
  using WatchExit = std::function<bool(int pid, std::function<void()> on_exit)>;
  // Starts an app's current revision again (Engine::RestartCurrent).
  using Restart = std::function<Status(const std::string& app)>;

  // Every reference must outlive the supervisor.
  Supervisor(Clock& clock, runtime::ContainerRuntime& runtime, store::StateStore& store,
             RestartPolicy policy, PostWork post_work, WatchExit watch_exit, Restart restart);

  // What the supervisor needs of the engine after the commit; each runs on the worker.
  struct AfterCommit {
    // Engine::FailProbation.
    std::function<Status(const std::string& app, const std::string& revision,
                         const std::string& reason)>
        fail_probation;
    // Engine::HealthCheckOf: the check and its liveness settings.
    std::function<Result<manifest::HealthCheck>(const std::string& app,
                                                const std::string& revision)>
        health_check;
    // Records an event for the fleet (report::Reporter::Record): kind, app, revision, reason.
    std::function<void(const std::string& kind, const std::string& app, const std::string& revision,
                       const std::string& reason)>
        event;
  };
  // Before the first Sync. Without it there is no probation, liveness or restart event.
  void SetAfterCommit(AfterCommit hooks) { after_commit_ = std::move(hooks); }

  // ferryd's stop (must outlive the supervisor): a liveness probe in flight ends at once and
  // counts as nothing. Call before Sync.
  void SetStop(const CancelToken* stop) { stop_ = stop; }

  // On the worker, after recovery and after every update or revert: watches each app's current
  // container that runs (adopted ones included).
  void Sync();

  std::map<std::string, Supervision> Snapshot() const;
  RestartPolicy policy() const { return policy_; }

 private:
  struct App {
    std::string revision;
    int pid = 0;  // watched; 0 while down
    Clock::TimePoint started{};
    RestartBackoff backoff;
    bool restart_pending = false;
    Supervision shown;
    int liveness_failed = 0;                     // in a row, of the watched pid
    std::optional<manifest::HealthCheck> check;  // of `revision`, when it has a liveness probe
  };
  void SyncApp(const std::string& app, const std::string& revision);
  void Watch(const std::string& app, const std::string& revision, int pid);
  void HandleExit(const std::string& app, int pid);
  void ScheduleRestart(const std::string& app, std::chrono::seconds delay);
  // After a restart that failed: the next delay of `app`'s backoff, with its restart pending.
  std::chrono::seconds RetryDelay(const std::string& app);
  void DoRestart(const std::string& app);
  // Whether `revision` is in its probation now.
  bool InProbation(const std::string& revision);
  // Counts an end of `app`'s `revision` and, at kProbationCrashLoop within its probation, rolls
  // it back; true when it did.
  bool ProbationExit(const std::string& app, const std::string& revision, const std::string& what);
  // Rolls back within probation; true when done (the new current is then watched).
  bool RollBackInProbation(const std::string& app, const std::string& revision,
                           const std::string& reason);
  void ScheduleLiveness(const std::string& app, int pid);
  void LivenessProbe(const std::string& app, int pid);
  void Event(const std::string& kind, const std::string& app, const std::string& revision,
             const std::string& reason);

  Clock& clock_;
  runtime::ContainerRuntime& runtime_;
  const CancelToken* stop_ = nullptr;
  store::StateStore& store_;
  RestartPolicy policy_;
  PostWork post_work_;
  WatchExit watch_exit_;
  Restart restart_;
  AfterCommit after_commit_;
  mutable std::mutex mu_;
  std::map<std::string, App> apps_;
};

// An app's supervision in `ferry status --json`: running, healthy (true, false or null before the
// first liveness probe), restarts, last_restart_reason, since (unix seconds of the last start or
// end seen), last_exit ({code, signal, description, at} or null), restart_policy.
// `s` is null for an app not watched (its current revision does not run).
nlohmann::json SupervisionJson(const Supervision* s, RestartPolicy policy);

// The production WatchExit: a pidfd (pidfd_open, Linux 5.3+) waited on by `io`.
Supervisor::WatchExit PidfdWatcher(boost::asio::io_context& io);

}  // namespace ferry::daemon
