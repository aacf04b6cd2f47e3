// The update path of one app, from a verified release manifest to a committed revision or an
// automatic rollback (docs/architecture.md, The update step by step):
//
//   staging → staged → switching → trial → committed
//      │                   │          │
//      └── failure, or ferryd stopping: abandoned, the running revision untouched
//                          └──────────┴── failure: rolled back, marked bad
//                                         ferryd stopped or died: rolled back (interrupted, not
//                                         bad) at the next start, and retried at most
//                                         kMaxInterruptions times; a first install is tried
//                                         again at once, as there is nothing to go back to
//
// After the commit, an upgrade is on probation for its health check's probation_s (the end kept
// in the state database): ferryd's supervisor rolls it back through FailProbation, marking it bad,
// when it crash-loops or stays unhealthy before then; after it, it is only ever restarted.
//
// At start-up, an app whose current revision cannot be started kMaxStartAttempts times in a row
// (counted in the state database) falls back to its last good revision, which marks it bad.
//
// Persist, then act: each step is recorded in the state database before it touches files or
// containers, and Recover() finishes or undoes whatever a crash or power cut interrupted.
//
// Progress and events go to the report::Reporter it is given; an update of an app is in flight
// while that reporter has progress for it (set by the engine while it installs, or by whoever
// downloads the release before).
//
// Blocking: every method runs on the caller's thread (ferryd's worker), never on the event loop.
// Calls for one Engine are serialized internally.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "ferry/core/cancel_token.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/health/health_checker.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/report/reporter.hpp"
#include "ferry/runtime/container_runtime.hpp"
#include "ferry/runtime/container_spec.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::engine {

// Where the engine gets the verified local file of a blob or delta the manifest pins. The engine
// checks size and sha256 again before use.
class BlobProvider {
 public:
  virtual ~BlobProvider() = default;
  // The path of a local file holding `blob`, or an error (Errc::kNotFound when this provider does
  // not have it, which for a delta means: use another source).
  virtual Result<std::filesystem::path> Get(const manifest::Blob& blob) = 0;
};

// Blobs laid out as <dir>/blobs/sha256/<hex> (a repository or an unpacked offline bundle).
class DirBlobProvider final : public BlobProvider {
 public:
  explicit DirBlobProvider(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Result<std::filesystem::path> Get(const manifest::Blob& blob) override;

 private:
  std::filesystem::path dir_;
};

enum class Outcome {
  kCommitted,         // the new revision passed its trial and runs
  kAlreadyInstalled,  // this release is already the current revision
  kRolledBack,        // it failed its trial; the previous revision runs again
  kFailed,            // it could not be staged or started; the running revision is untouched
};
std::string_view OutcomeName(Outcome outcome);

struct InstallResult {
  Outcome outcome = Outcome::kFailed;
  std::string revision;
  std::string reason;
};

// Where an install comes from, carried into its events.
struct InstallOptions {
  std::string deployment;  // the fleet deployment that asked for it; empty for a local install
  // Asked between the steps of staging and before the switch: once it returns true, Install
  // abandons the release (Errc::kCancelled, the revision recorded as interrupted, not bad) and
  // the running revision stays untouched. Empty: never.
  std::function<bool()> stop_requested;
  // Non-empty: a release marked bad on this device is tried again on purpose, and this says who
  // asked ("technician (ferry install --retry-bad)", "operator (deployment d-4)"); it is kept in
  // the revision's history.
  std::string retry_bad_by;
};

// Boot attempts of a current revision that fail before it falls back to the previous one.
inline constexpr std::uint32_t kMaxStartAttempts = 3;
// Interrupted switches or trials of a revision that are retried; one more marks it bad.
inline constexpr std::uint32_t kMaxInterruptions = 2;

// How a revision's root filesystem is made from its layers (docs/architecture.md, Device
// storage). Whatever the kind, it is at <revision>/rootfs.
enum class RootfsMode {
  kAuto,      // an overlay mount where the kernel allows it, else a hardlink farm (said once in the
              // log)
  kOverlay,   // an overlay mount; a kernel that refuses it fails the staging instead
  kHardlink,  // always a hardlink farm (copies for a writable root)
};
// "auto", "overlay", "hardlink" (the [runtime] rootfs key); kInvalidArgument for anything else.
Result<RootfsMode> ParseRootfsMode(std::string_view text);
std::string_view RootfsModeName(RootfsMode mode);

struct EngineOptions {
  std::chrono::milliseconds stop_grace{10000};  // SIGTERM grace of an old revision
  std::uint32_t keep_revisions = 2;             // committed revisions kept on disk per app
  runtime::HostPaths host_paths;                // volumes_dir is filled in per app
  RootfsMode rootfs = RootfsMode::kAuto;
  // ferryd's stop: a health probe in flight ends at once (the trial is interrupted, not failed),
  // and a step whose runtime call was cancelled by it leaves the journal open for the next start
  // instead of rolling back. Null: none. Must outlive the engine.
  const CancelToken* stop = nullptr;
};

class Engine {
 public:
  // Every reference must outlive the engine.
  Engine(Layout layout, store::StateStore& store, report::Reporter& reporter,
         runtime::ContainerRuntime& runtime, const Clock& clock, health::Sleeper& sleeper,
         EngineOptions options);

  // Installs the release `manifest` (whose signed bytes are `manifest_bytes`, already verified by
  // the trust module) with blobs from `blobs`. Refuses, before touching anything, a release marked
  // bad, a downgrade that is not signed as one, and a release that does not accept the running
  // version as its base (min_from_version). A release that cannot be staged or started is an
  // kFailed result with the running revision untouched; one that fails its trial is rolled back.
  // Errors are for refusals and for a state database that cannot be written.
  Result<InstallResult> Install(const manifest::Manifest& manifest, std::string_view manifest_bytes,
                                BlobProvider& blobs, const InstallOptions& options = {});

  // The refusals of Install without installing anything: lets the caller refuse a release before
  // downloading it. Ok for the release that is already current. `retry_bad`: a release marked bad
  // is not refused (it is being retried on purpose, InstallOptions::retry_bad_by).
  Status Admissible(const manifest::Manifest& manifest, std::string_view manifest_bytes,
                    bool retry_bad = false);

  // Lifts the bad mark of `app`'s revisions of `version` on purpose (`ferry retry`), keeping
  // `by` and the reason in their history, so that the next install of that release tries it
  // again. Returns the revisions; kNotFound when none of that version is marked bad.
  Result<std::vector<std::string>> RetryBad(const std::string& app, const std::string& version,
                                            const std::string& by);

  // Switches `app` to `revision` (default: its previous good revision) by hand, with a trial.
  // The target must be on disk and not marked bad.
  Result<InstallResult> Revert(const std::string& app, std::optional<std::string> revision);

  // Start-up recovery: rolls back any switch or trial that ferryd did not finish, removes staging
  // leftovers, makes `current` links agree with the database, and makes sure every app's current
  // revision runs (adopting a container that survived, or starting it again).
  Status Recover();

  // Starts `app`'s current revision again after its process ended (ferryd's supervisor): deletes
  // the dead container and starts it the way recovery does. Ok when it already runs;
  // Errc::kUnavailable while an update of `app` is in flight (its trial decides), kNotFound
  // without a current revision. Defined in engine_supervise.cpp.
  Status RestartCurrent(const std::string& app);

  // Rolls `app` back from `revision`, its current revision, because it crash-looped or stayed
  // unhealthy within its probation (docs/operations.md, Probation): marks it bad with `reason`,
  // exactly like a failed trial, and starts the last good revision. kFailedPrecondition when
  // `revision` is no longer current or its probation has ended (then it is only ever restarted),
  // kNotFound when there is no good revision to go back to, kUnavailable while an update of `app`
  // is in flight. Defined in engine_supervise.cpp.
  Status FailProbation(const std::string& app, const std::string& revision,
                       const std::string& reason);

  // The health check of an installed revision (the process check when its manifest has none),
  // with its probation and liveness settings.
  Result<manifest::HealthCheck> HealthCheckOf(const std::string& app, const std::string& revision);

 private:
  // What one call (an install, a revert, a recovery) carries down to the steps it runs: the
  // deployment its events name, and when to give up. Never kept past the call.
  struct Context {
    std::string deployment;  // InstallOptions::deployment; empty for anything but an install
    std::function<bool()> stop_requested;  // InstallOptions::stop_requested; empty: never
    bool StopRequested() const { return stop_requested && stop_requested(); }
  };
  struct Staged {
    std::string revision;
    std::filesystem::path dir;
  };
  Result<std::optional<std::string>> CurrentRevision(const std::string& app);
  Status AdmissibleOver(const manifest::Manifest& m, const std::string& revision,
                        const std::optional<std::string>& current, bool retry_bad = false);
  Result<Staged> Stage(const manifest::Manifest& m, const std::string& revision,
                       BlobProvider& blobs, const Context& ctx);
  // Unpacks `layer` into the layer store unless it is there; `stripped` says what the extractor
  // took away (setuid/setgid bits, file capabilities), empty when nothing or already there.
  Status StageLayer(const manifest::Layer& layer, BlobProvider& blobs, const Context& ctx,
                    std::string& stripped);
  Result<InstallResult> SwitchAndTrial(const std::string& app, const std::string& revision,
                                       const std::optional<std::string>& from,
                                       const std::string& journal_step, const Context& ctx);
  // Mounts the revision's root, removes a stale container of it and creates its container, whose
  // process StartRevision (or runtime_.Start) then runs.
  Status CreateRevision(const std::string& app, const std::string& revision);
  Status StartRevision(const std::string& app, const std::string& revision);
  // The standby of `app` (see standbys_), forgotten as it is taken; nullopt when there is none.
  std::optional<std::string> TakeStandby(const std::string& app);
  // Whose fault a rollback is: the revision's own (marked bad), or ferryd's stop (interrupted).
  // kInterruptedRevert: a revert, to a revision committed before, cut short (it stays committed).
  enum class Blame { kRevision, kInterrupted, kInterruptedRevert };
  Status RollBack(const std::string& app, const std::string& failed,
                  const std::optional<std::string>& to, const std::string& reason,
                  const std::string& details, const Context& ctx, Blame blame = Blame::kRevision);
  // Whether an update of `app` is in flight (the reporter has progress for it).
  bool Updating(const std::string& app) const;
  // Lifts the bad mark of `rev`, recording `by` in its history.
  Status MarkRetried(const store::RevisionRecord& rev, const std::string& by);
  // Recovery: starts an app's current revision, or falls back to its previous one after
  // kMaxStartAttempts failed boots.
  void StartAtBoot(const store::AppRecord& app);
  // Recovery: removes the containers of an app's revisions other than the current one, and
  // unmounts the root filesystems of those other than current and previous.
  void ReleaseStrayRevisions(const store::AppRecord& app);
  // Records an event of `ctx`'s call (with its deployment).
  Status Report(const Context& ctx, const std::string& kind, const std::string& app,
                const std::string& revision, const std::string& version,
                const std::string& reason = {});
  Result<manifest::Manifest> LoadRevisionManifest(const std::string& app,
                                                  const std::string& revision);
  std::optional<std::string> LastGood(const std::string& app, const std::string& except);
  Status GarbageCollect(const std::string& app);
  // Recovery: removes an app's staging leftovers, interrupted removals and temp files.
  void SweepApp(const std::string& app);
  void SweepTempFiles(const std::filesystem::path& dir);

  Layout layout_;
  store::StateStore& store_;
  report::Reporter& reporter_;
  runtime::ContainerRuntime& runtime_;
  const Clock& clock_;
  health::Sleeper& sleeper_;
  EngineOptions options_;
  std::mutex run_mu_;  // one update or revert at a time
  // Per app, the revision whose container this ferryd created, not started, during a trial: the
  // way back, so that a rollback only stops the failed process and starts this one. Lost with
  // ferryd; a container it leaves is removed or created anew by recovery like any other.
  std::mutex standby_mu_;
  std::map<std::string, std::string> standbys_;
};

// The ContainerSpec of a revision of `manifest` whose root filesystem is `rootfs`.
Result<runtime::ContainerSpec> SpecFromManifest(const manifest::Manifest& manifest,
                                                const std::string& revision,
                                                const std::filesystem::path& rootfs);

}  // namespace ferry::engine
