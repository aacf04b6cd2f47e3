#include "ferry/engine/engine.hpp"

#include <algorithm>

#include "delta_source.hpp"
#include "ferry/core/crashpoint.hpp"
#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/engine/unpack_layer.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/manifest/health_check.hpp"
#include "layer_gc.hpp"
#include "revision_rootfs.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

FERRY_DEFINE_CRASHPOINT(kStageBeforeRename, "engine.stage.before-rename");
FERRY_DEFINE_CRASHPOINT(kStageAfterRename, "engine.stage.after-rename");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterJournal, "engine.switch.after-journal");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterCreateNew, "engine.switch.after-create-new");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterStopOld, "engine.switch.after-stop-old");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterStartNew, "engine.switch.after-start-new");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterCurrentLink, "engine.switch.after-current-link");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterLink, "engine.switch.after-link");
FERRY_DEFINE_CRASHPOINT(kSwitchAfterStandby, "engine.switch.after-standby");
FERRY_DEFINE_CRASHPOINT(kTrialStarted, "engine.trial.started");
FERRY_DEFINE_CRASHPOINT(kTrialBeforeCommit, "engine.trial.before-commit");
FERRY_DEFINE_CRASHPOINT(kTrialAfterCommit, "engine.trial.after-commit");
FERRY_DEFINE_CRASHPOINT(kRollbackAfterStop, "engine.rollback.after-stop");
FERRY_DEFINE_CRASHPOINT(kRollbackAfterState, "engine.rollback.after-state");
FERRY_DEFINE_CRASHPOINT(kRollbackAfterStartOld, "engine.rollback.after-start-old");
FERRY_DEFINE_CRASHPOINT(kRollbackAfterCurrentLink, "engine.rollback.after-current-link");
FERRY_DEFINE_CRASHPOINT(kRollbackAfterLinks, "engine.rollback.after-links");
FERRY_DEFINE_CRASHPOINT(kRollbackAfterRecord, "engine.rollback.after-record");
FERRY_DEFINE_CRASHPOINT(kRevertBeforeSwitch, "engine.revert.before-switch");
FERRY_DEFINE_CRASHPOINT(kRecoverAfterRollback, "engine.recover.after-rollback");
FERRY_DEFINE_CRASHPOINT(kRecoverAfterJournal, "engine.recover.after-journal");
FERRY_DEFINE_CRASHPOINT(kRecoverAfterSweep, "engine.recover.after-sweep");
FERRY_DEFINE_CRASHPOINT(kBootAfterCount, "engine.boot.after-count");
FERRY_DEFINE_CRASHPOINT(kBootBeforeFallback, "engine.boot.before-fallback");
FERRY_DEFINE_CRASHPOINT(kBootAfterFallback, "engine.boot.after-fallback");
FERRY_DEFINE_CRASHPOINT(kGcRevisionBeforeRename, "engine.gc.revision.before-rename");
FERRY_DEFINE_CRASHPOINT(kGcRevisionAfterRename, "engine.gc.revision.after-rename");
FERRY_DEFINE_CRASHPOINT(kGcRevisionAfterForget, "engine.gc.revision.after-forget");
FERRY_DEFINE_CRASHPOINT(kGcRevisionAfterRemove, "engine.gc.revision.after-remove");

constexpr std::string_view kJournalStep = "switch";
constexpr std::string_view kStagingInterrupted = "interrupted: ferryd stopped while staging";

// The journal step of a revert (the others are "install" and the like).
constexpr std::string_view kRevertStep = "revert";

std::string RevisionLink(const std::string& revision) { return "revisions/" + revision; }

bool Exists(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(stdfs::symlink_status(p, ec));
}

// Moves a revision folder out of its name in one durable rename, the deletion's intent, and
// returns where it went: RemoveRevisionDir of that path finishes the removal, now or at start-up
// recovery. A revision folder is thus complete under its name or not there at all.
Result<stdfs::path> RetireRevisionDir(const stdfs::path& dir) {
  const stdfs::path doomed = Layout::BeingRemoved(dir);
  if (auto st = RemoveRevisionDir(doomed); !st) {
    return Fail(st.error());
  }
  if (!Exists(dir)) {
    return doomed;
  }
  if (auto st = UnmountRevisionRootfs(dir); !st) {
    return Fail(st.error());
  }
  if (auto st = fs::RenameDurable(dir, doomed); !st) {
    return Fail(st.error());
  }
  return doomed;
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kCommitted:
      return "committed";
    case Outcome::kAlreadyInstalled:
      return "already-installed";
    case Outcome::kRolledBack:
      return "rolled-back";
    case Outcome::kFailed:
      return "failed";
  }
  return "failed";
}

Result<stdfs::path> DirBlobProvider::Get(const manifest::Blob& blob) {
  const auto digest = Digest::Parse(blob.digest);
  if (!digest) {
    return Fail(Errc::kInvalidArgument, "not a sha256 digest: " + blob.digest);
  }
  const stdfs::path p = layout::BlobPath(layout::BundleBlobs(dir_), *digest);
  if (!Exists(p)) {
    return Fail(Errc::kNotFound, "blob " + blob.digest + " is not in " + dir_.string());
  }
  return p;
}

Engine::Engine(Layout layout, store::StateStore& store, report::Reporter& reporter,
               runtime::ContainerRuntime& runtime, const Clock& clock, health::Sleeper& sleeper,
               EngineOptions options)
    : layout_(std::move(layout)),
      store_(store),
      reporter_(reporter),
      runtime_(runtime),
      clock_(clock),
      sleeper_(sleeper),
      options_(std::move(options)) {}

Status Engine::Report(const Context& ctx, const std::string& kind, const std::string& app,
                      const std::string& revision, const std::string& version,
                      const std::string& reason) {
  return reporter_.Record(report::Event{.kind = kind,
                                        .app = app,
                                        .revision = revision,
                                        .version = version,
                                        .reason = reason,
                                        .deployment = ctx.deployment});
}

bool Engine::Updating(const std::string& app) const { return reporter_.InFlight().contains(app); }

Result<manifest::Manifest> Engine::LoadRevisionManifest(const std::string& app,
                                                        const std::string& revision) {
  auto bytes = fs::ReadFile(layout_.revision_manifest(app, revision), 1u << 20);
  if (!bytes) {
    return Fail(bytes.error().WithContext("revision " + revision));
  }
  auto m = manifest::ParseManifest(*bytes);
  if (!m) {
    return Fail(m.error().WithContext("revision " + revision + " manifest"));
  }
  return m;
}

std::optional<std::string> Engine::LastGood(const std::string& app, const std::string& except) {
  auto revs = store_.ListRevisions(app);
  if (!revs) {
    return std::nullopt;
  }
  for (auto it = revs->rbegin(); it != revs->rend(); ++it) {
    if (it->id != except && !it->bad && it->state == store::RevisionState::kCommitted &&
        Exists(layout_.revision_rootfs(app, it->id))) {
      return it->id;
    }
  }
  return std::nullopt;
}

Result<std::optional<std::string>> Engine::CurrentRevision(const std::string& app) {
  auto rec = store_.GetApp(app);
  if (rec) {
    return rec->current_revision;
  }
  if (rec.error().Is(Errc::kNotFound)) {
    return std::optional<std::string>();
  }
  return Fail(rec.error());
}

Status Engine::Admissible(const manifest::Manifest& m, std::string_view manifest_bytes,
                          bool retry_bad) {
  const std::string revision = RevisionId(m.version.String(), Sha256Digest(manifest_bytes));
  auto current = CurrentRevision(m.app);
  if (!current) {
    return Fail(current.error());
  }
  if (*current == revision) {
    return Ok();
  }
  return AdmissibleOver(m, revision, *current, retry_bad);
}

Status Engine::AdmissibleOver(const manifest::Manifest& m, const std::string& revision,
                              const std::optional<std::string>& current, bool retry_bad) {
  const std::string version = m.version.String();
  auto existing = store_.GetRevision(revision);
  if (existing && existing->bad && !retry_bad) {
    return Fail(Errc::kFailedPrecondition,
                m.app + " " + version + " (revision " + revision +
                    ") was marked bad and is not retried automatically: " + existing->reason);
  }
  if (current) {
    auto running = LoadRevisionManifest(m.app, *current);
    if (running) {
      if (m.version < running->version && !m.downgrade) {
        return Fail(Errc::kFailedPrecondition,
                    "refusing to downgrade " + m.app + " from " + running->version.String() +
                        " to " + version + ": the release is not signed as an allowed downgrade");
      }
      if (m.min_from_version && running->version < *m.min_from_version) {
        return Fail(Errc::kFailedPrecondition,
                    m.app + " " + version + " can only be installed over " +
                        m.min_from_version->String() + " or newer; this device runs " +
                        running->version.String());
      }
    } else {
      log::warn("{}: cannot read the running revision's manifest: {}", m.app,
                running.error().message());
    }
  }
  return Ok();
}

Result<InstallResult> Engine::Install(const manifest::Manifest& m, std::string_view manifest_bytes,
                                      BlobProvider& blobs, const InstallOptions& options) {
  std::lock_guard run_lock(run_mu_);
  const Context ctx{options.deployment, options.stop_requested};
  const std::string digest = Sha256Digest(manifest_bytes);
  const std::string revision = RevisionId(m.version.String(), digest);
  const std::string version = m.version.String();

  auto current = CurrentRevision(m.app);
  if (!current) {
    return Fail(current.error());
  }
  if (*current == revision) {
    if (auto st = Report(ctx, "already-installed", m.app, revision, version); !st) {
      return Fail(st.error());
    }
    return InstallResult{Outcome::kAlreadyInstalled, revision, "already the current revision"};
  }
  if (!options.retry_bad_by.empty()) {
    if (auto bad = store_.GetRevision(revision); bad && bad->bad) {
      if (auto st = MarkRetried(*bad, options.retry_bad_by); !st) {
        return Fail(st.error());
      }
    }
  }
  if (auto st = AdmissibleOver(m, revision, *current); !st) {
    return Fail(st.error());
  }
  auto existing = store_.GetRevision(revision);

  Status recorded = store_.InTransaction([&]() -> Status {
    if (auto st = store_.PutApp(m.app); !st) {
      return st;
    }
    if (existing) {
      return store_.SetRevisionState(revision, store::RevisionState::kStaging);
    }
    store::RevisionRecord rec;
    rec.id = revision;
    rec.app = m.app;
    rec.version = version;
    rec.manifest_digest = digest;
    rec.state = store::RevisionState::kStaging;
    return store_.AddRevision(rec);
  });
  if (!recorded) {
    return Fail(recorded.error());
  }
  if (auto st = Report(ctx, "staging", m.app, revision, version); !st) {
    return Fail(st.error());
  }
  reporter_.SetProgress(m.app, report::Progress{"staging", revision, version, 0, 0, 0});

  auto abandon = [&]() -> Result<InstallResult> {
    // Nothing of the running revision was touched; what is staged stays for the next attempt.
    reporter_.ClearProgress(m.app);
    log::warn("{} {}: ferryd is stopping; the install is abandoned before the switch", m.app,
              revision);
    (void)store_.FinishStep(revision, "staging");
    if (auto st = store_.SetRevisionState(revision, store::RevisionState::kInterrupted,
                                          std::string(kStagingInterrupted));
        !st) {
      return Fail(st.error());
    }
    return Fail(Errc::kCancelled, m.app + " " + version + ": " + std::string(kStagingInterrupted));
  };
  auto staged = Stage(m, revision, blobs, ctx);
  if (!staged && (staged.error().Is(Errc::kCancelled) || ctx.StopRequested())) {
    return abandon();
  }
  if (!staged) {
    reporter_.ClearProgress(m.app);
    const std::string reason = staged.error().message();
    log::error("{} {}: staging failed: {}", m.app, revision, reason);
    // Layers unpacked for this revision only: a disk filled by a failed staging is given back.
    if (auto st = RemoveUnreferencedLayers(store_, layout_); !st) {
      log::warn("{} {}: removing unused layers: {}", m.app, revision, st.error().message());
    }
    if (auto st = store_.SetRevisionState(revision, store::RevisionState::kFailed, reason); !st) {
      return Fail(st.error());
    }
    if (auto st = Report(ctx, "failed", m.app, revision, version, reason); !st) {
      return Fail(st.error());
    }
    return InstallResult{Outcome::kFailed, revision, reason};
  }
  if (auto st = store_.SetRevisionState(revision, store::RevisionState::kStaged); !st) {
    return Fail(st.error());
  }
  if (ctx.StopRequested()) {
    return abandon();
  }
  auto result = SwitchAndTrial(m.app, revision, *current, std::string(kJournalStep), ctx);
  reporter_.ClearProgress(m.app);
  return result;
}

Result<Engine::Staged> Engine::Stage(const manifest::Manifest& m, const std::string& revision,
                                     BlobProvider& blobs, const Context& ctx) {
  if (auto st = store_.StartStep(revision, "staging"); !st) {
    return Fail(st.error());
  }
  const stdfs::path dir = layout_.revision(m.app, revision);
  if (Exists(layout::RevisionRootfs(dir)) && Exists(layout::RevisionManifest(dir)) &&
      RevisionRootfsHasItsLayers(layout_.layers(), dir)) {
    // Staged before (a revision reinstalled or reverted to): the tree is complete, as it was
    // renamed into place only after it was synced. Its layers are recorded again: a crash right
    // after the rename left them unreferenced, and garbage collection must not take them from
    // under an overlay root filesystem.
    std::vector<std::string> diff_ids;
    for (const auto& layer : m.layers) {
      diff_ids.push_back(layer.diff_id);
    }
    if (auto st = store_.SetRevisionLayers(revision, diff_ids); !st) {
      return Fail(st.error());
    }
    if (auto st = store_.FinishStep(revision, "staging"); !st) {
      return Fail(st.error());
    }
    return Staged{revision, dir};
  }
  std::uint64_t total = 0;
  for (const auto& layer : m.layers) {
    total += layer.blob.size;
  }
  reporter_.SetProgress(m.app,
                        report::Progress{"staging", revision, m.version.String(), 0, total, 0});
  std::uint64_t done = 0;
  for (const auto& layer : m.layers) {
    if (ctx.StopRequested()) {
      return Fail(Errc::kCancelled, "ferryd is stopping");
    }
    std::string stripped;
    if (auto st = StageLayer(layer, blobs, ctx, stripped); !st) {
      return Fail(st.error().WithContext("layer " + layer.diff_id));
    }
    if (!stripped.empty()) {
      (void)Report(ctx, "staging", m.app, revision, m.version.String(), stripped);
    }
    done += layer.blob.size;
    reporter_.SetProgress(
        m.app, report::Progress{"staging", revision, m.version.String(), done, total, 0});
  }
  if (auto st = fs::MakeDirs(layout_.revisions(m.app), 0700); !st) {
    return Fail(st.error());
  }
  const stdfs::path partial = Layout::BeingStaged(dir);
  if (auto st = RemoveRevisionDir(partial); !st) {
    return Fail(st.error());
  }
  if (auto doomed = RetireRevisionDir(dir); !doomed) {
    return Fail(doomed.error());
  } else if (auto st = RemoveRevisionDir(*doomed); !st) {
    return Fail(st.error());
  }
  if (auto st = fs::MakeDirs(partial, 0700); !st) {
    return Fail(st.error());
  }
  std::vector<RootfsLayer> rootfs_layers;
  std::vector<std::string> diff_ids;
  for (const auto& layer : m.layers) {
    rootfs_layers.push_back({layout_.layer(layer.diff_id), layout_.layer_whiteouts(layer.diff_id)});
    diff_ids.push_back(layer.diff_id);
  }
  if (auto st =
          BuildRevisionRootfs(rootfs_layers, partial, !m.config.read_only_rootfs, options_.rootfs);
      !st) {
    (void)RemoveRevisionDir(partial);
    return Fail(st.error().WithContext("assembling the root filesystem"));
  }
  if (auto st = fs::WriteFileAtomic(layout::RevisionManifest(partial),
                                    manifest::SerializeManifest(m), 0600);
      !st) {
    (void)RemoveRevisionDir(partial);
    return Fail(st.error());
  }
  if (auto st = fs::SyncPath(partial); !st) {
    return Fail(st.error());
  }
  Crashpoint(kStageBeforeRename);
  if (auto st = fs::RenameDurable(partial, dir); !st) {
    return Fail(st.error());
  }
  Crashpoint(kStageAfterRename);
  if (auto st = store_.SetRevisionLayers(revision, diff_ids); !st) {
    return Fail(st.error());
  }
  if (auto st = store_.FinishStep(revision, "staging"); !st) {
    return Fail(st.error());
  }
  return Staged{revision, dir};
}

Status Engine::StageLayer(const manifest::Layer& layer, BlobProvider& blobs, const Context& ctx,
                          std::string& stripped) {
  auto known = store_.GetLayer(layer.diff_id);
  if (!known) {
    return Fail(known.error());
  }
  const stdfs::path final_dir = layout_.layer(layer.diff_id);
  if (*known && (*known)->state == store::LayerState::kComplete && Exists(final_dir)) {
    return Ok();
  }
  if (Exists(final_dir)) {
    // Renamed into place after its digest matched, then interrupted before the database said so.
    return store_.PutLayer(layer.diff_id, store::LayerState::kComplete, layer.size);
  }
  if (auto st = fs::MakeDirs(layout_.layers(), 0700); !st) {
    return st;
  }
  if (auto st = store_.PutLayer(layer.diff_id, store::LayerState::kStaging, layer.size); !st) {
    return st;
  }
  layers::ExtractPolicy policy = layers::ExtractPolicy::ForCurrentProcess();
  policy.whiteouts = layers::WhiteoutMode::kList;
  policy.max_tar_bytes = layer.size;
  policy.declared_entries = layer.entries;
  policy.declared_unpacked_size = layer.unpacked_size;
  policy.stop_requested = [&ctx] { return ctx.StopRequested(); };

  // The cheapest source first: a delta from a layer this device already has.
  for (const auto& delta : layer.deltas) {
    auto base = store_.GetLayer(delta.from_diff_id);
    if (!base || !*base || (*base)->state != store::LayerState::kComplete ||
        !Exists(layout_.layer(delta.from_diff_id))) {
      continue;
    }
    auto path = blobs.Get(delta.blob);
    if (!path) {
      continue;
    }
    if (auto st = VerifyFile(*path, delta.blob.digest, delta.blob.size, policy.stop_requested);
        !st) {
      if (st.error().Is(Errc::kCancelled)) {
        return st;
      }
      log::warn("delta for {} refused: {}", layer.diff_id, st.error().message());
      continue;
    }
    DeltaSource source(layout_.layer(delta.from_diff_id), *path, policy.stop_requested);
    auto staged = layers::StageLayer(source, layout_.layers(), layer.diff_id, policy);
    Status decoded = source.Finish();
    if (staged) {
      stripped = StrippedNote(layer.diff_id, *staged);
      return store_.PutLayer(layer.diff_id, store::LayerState::kComplete, layer.size);
    }
    if (staged.error().Is(Errc::kCancelled) || ctx.StopRequested()) {
      // The decoder may have seen the stop first: the extractor then saw a short tar.
      return Fail(Errc::kCancelled, "ferryd is stopping");
    }
    log::warn("delta for {} failed, falling back to the full layer: {}", layer.diff_id,
              (decoded ? staged.error() : decoded.error()).message());
  }
  auto path = blobs.Get(layer.blob);
  if (!path) {
    return Fail(path.error());
  }
  if (auto st = VerifyFile(*path, layer.blob.digest, layer.blob.size, policy.stop_requested); !st) {
    return st;
  }
  layers::FileSource file(*path);
  auto note = UnpackLayer(store_, layout_, layer, file, policy.stop_requested);
  if (!note) {
    return Fail(note.error());
  }
  stripped = std::move(*note);
  return Ok();
}

Status Engine::StartRevision(const std::string& app, const std::string& revision) {
  if (auto st = CreateRevision(app, revision); !st) {
    return st;
  }
  return runtime_.Start(ContainerId(app, revision));
}

std::optional<std::string> Engine::TakeStandby(const std::string& app) {
  std::lock_guard lock(standby_mu_);
  auto node = standbys_.extract(app);
  if (node.empty()) {
    return std::nullopt;
  }
  return std::move(node.mapped());
}

Status Engine::CreateRevision(const std::string& app, const std::string& revision) {
  auto m = LoadRevisionManifest(app, revision);
  if (!m) {
    return Fail(m.error());
  }
  const stdfs::path dir = layout_.revision(app, revision);
  auto spec = SpecFromManifest(*m, revision, layout::RevisionRootfs(dir));
  if (!spec) {
    return Fail(spec.error());
  }
  if (auto st = MountRevisionRootfs(layout_.layers(), dir); !st) {
    return st;
  }
  const std::string id = ContainerId(app, revision);
  if (auto st = runtime_.Delete(id); !st) {
    return st;
  }
  return runtime_.Create(id, *spec, dir);
}

Result<InstallResult> Engine::SwitchAndTrial(const std::string& app, const std::string& revision,
                                             const std::optional<std::string>& from,
                                             const std::string& journal_step, const Context& ctx) {
  auto m = LoadRevisionManifest(app, revision);
  if (!m) {
    return Fail(m.error());
  }
  const std::string version = m->version.String();
  (void)TakeStandby(app);
  // The manifest's parser checked the health check; none is the process check.
  const manifest::HealthCheck check = m->config.health.value_or(manifest::HealthCheck{});

  store::JournalEntry entry;
  entry.app = app;
  entry.from_revision = from;
  entry.to_revision = revision;
  entry.step = journal_step;
  auto journal = store_.BeginJournal(entry);
  if (!journal) {
    return Fail(journal.error());
  }
  if (auto st = store_.InTransaction([&]() -> Status {
        if (auto s = store_.SetRevisionState(revision, store::RevisionState::kSwitching); !s) {
          return s;
        }
        return store_.StartStep(revision, "switching");
      });
      !st) {
    return Fail(st.error());
  }
  reporter_.SetProgress(app, report::Progress{"switching", revision, version, 0, 0, 0});
  (void)Report(ctx, "switching", app, revision, version);
  Crashpoint(kSwitchAfterJournal);

  auto roll_back = [&](const std::string& reason,
                       const std::string& details) -> Result<InstallResult> {
    reporter_.SetProgress(app, report::Progress{"rolling-back", revision, version, 0, 0, 0});
    if (auto st = RollBack(app, revision, from, reason, details, ctx); !st) {
      return Fail(st.error());
    }
    if (auto st = store_.FinishJournal(*journal); !st) {
      return Fail(st.error());
    }
    return InstallResult{Outcome::kRolledBack, revision, reason};
  };

  // All of the new revision's start that can happen while the old one still serves (its root
  // mounted, its container created, its process not yet run), so that the app is down only from
  // the old process's end to the new one's start. A failure here leaves the old one running.
  if (auto st = CreateRevision(app, revision); !st) {
    if (st.error().Is(Errc::kCancelled)) {
      // ferryd is stopping: the journal stays open and the next start rolls back.
      return Fail(std::move(st.error()).WithContext("creating " + revision));
    }
    return roll_back("could not start: " + st.error().message(), "");
  }
  Crashpoint(kSwitchAfterCreateNew);
  if (from) {
    if (auto st = runtime_.StopProcess(ContainerId(app, *from), options_.stop_grace); !st) {
      log::warn("{}: stopping {} failed: {}", app, *from, st.error().message());
    }
  }
  Crashpoint(kSwitchAfterStopOld);
  if (auto st = runtime_.Start(ContainerId(app, revision)); !st) {
    if (st.error().Is(Errc::kCancelled)) {
      // ferryd is stopping: the journal stays open and the next start rolls back.
      return Fail(std::move(st.error()).WithContext("starting " + revision));
    }
    return roll_back("could not start: " + st.error().message(), "");
  }
  Crashpoint(kSwitchAfterStartNew);
  if (from) {
    // Its process has ended: removing the container is no longer on the app's downtime.
    if (auto st = runtime_.Delete(ContainerId(app, *from)); !st) {
      log::warn("{}: removing the container of {}: {}", app, *from, st.error().message());
    }
  }
  if (auto st = fs::MakeDirs(layout_.app(app), 0700); !st) {
    return roll_back(st.error().message(), "");
  }
  if (auto st = fs::ReplaceSymlink(layout_.current_link(app), RevisionLink(revision)); !st) {
    return roll_back(st.error().message(), "");
  }
  Crashpoint(kSwitchAfterCurrentLink);
  if (from) {
    if (auto st = fs::ReplaceSymlink(layout_.previous_link(app), RevisionLink(*from)); !st) {
      return roll_back(st.error().message(), "");
    }
  }
  Crashpoint(kSwitchAfterLink);
  if (from) {
    // The way back, ready before the trial starts (so that the trial's deadline is not spent on
    // it): the previous revision's container created, not started. A rollback then only stops the
    // failed process and starts this one; a commit removes it. Without it a rollback creates the
    // container itself, as after a crash, so a failure here costs time only.
    if (auto st = CreateRevision(app, *from); st) {
      std::lock_guard lock(standby_mu_);
      standbys_[app] = *from;
    } else if (st.error().Is(Errc::kCancelled)) {
      // ferryd is stopping: the journal stays open and the next start rolls back.
      return Fail(std::move(st.error()).WithContext("preparing " + *from + " as the way back"));
    } else {
      log::warn("{}: preparing {} as the way back: {}", app, *from, st.error().message());
    }
  }
  Crashpoint(kSwitchAfterStandby);
  if (auto st = store_.InTransaction([&]() -> Status {
        if (auto s = store_.SetAppRevisions(app, revision, from); !s) {
          return s;
        }
        if (auto s = store_.SetRevisionState(revision, store::RevisionState::kTrial); !s) {
          return s;
        }
        if (auto s = store_.FinishStep(revision, "switching"); !s) {
          return s;
        }
        return store_.StartStep(revision, "trial");
      });
      !st) {
    return Fail(st.error());
  }
  reporter_.SetProgress(app, report::Progress{"trial", revision, version, 0, 0, 0});
  (void)Report(ctx, "trial", app, revision, version);
  Crashpoint(kTrialStarted);

  health::HealthChecker checker(clock_, sleeper_, runtime_, options_.stop);
  const health::TrialResult trial = checker.Run(check, ContainerId(app, revision));
  if (trial.cancelled) {
    // ferryd is shutting down: the journal stays open and the next start rolls back.
    return Fail(Errc::kCancelled, "the trial of " + revision + " was interrupted by shutdown");
  }
  if (!trial.passed) {
    return roll_back("health check failed: " + trial.reason, trial.last_output);
  }
  Crashpoint(kTrialBeforeCommit);
  if (auto st = store_.InTransaction([&]() -> Status {
        if (auto s = store_.SetRevisionState(revision, store::RevisionState::kCommitted); !s) {
          return s;
        }
        if (auto s = store_.FinishStep(revision, "trial"); !s) {
          return s;
        }
        if (auto s = store_.ResetRevisionCount(revision, store::RevisionCounter::kInterruptions);
            !s) {
          return s;
        }
        // Probation: a crash loop or sustained unhealthiness before this time still rolls back.
        // Kept in the database, so that a ferryd restart neither ends nor extends it.
        std::optional<store::WallTime> probation;
        if (check.probation.count() > 0 && from) {
          probation = clock_.WallNow() +
                      std::chrono::duration_cast<std::chrono::milliseconds>(check.probation);
        }
        if (auto s = store_.SetProbation(revision, probation); !s) {
          return s;
        }
        // A revision retried on purpose starts its new probation with no end counted.
        if (auto s = store_.ResetRevisionCount(revision, store::RevisionCounter::kProbationExits);
            !s) {
          return s;
        }
        return store_.FinishJournal(*journal);
      });
      !st) {
    return Fail(st.error());
  }
  Crashpoint(kTrialAfterCommit);
  if (const auto standby = TakeStandby(app)) {
    // Never started: nothing of it needs a grace period.
    if (auto st = runtime_.Delete(ContainerId(app, *standby)); !st) {
      log::warn("{}: removing the standby container of {}: {}", app, *standby,
                st.error().message());
    }
  }
  (void)Report(ctx, "committed", app, revision, version, trial.reason);
  if (auto st = GarbageCollect(app); !st) {
    log::warn("{}: garbage collection: {}", app, st.error().message());
  }
  // The revision that was previous until now keeps no mount.
  if (auto rec = store_.GetApp(app)) {
    ReleaseStrayRevisions(*rec);
  }
  return InstallResult{Outcome::kCommitted, revision, trial.reason};
}

Status Engine::RollBack(const std::string& app, const std::string& failed,
                        const std::optional<std::string>& to, const std::string& reason,
                        const std::string& details, const Context& ctx, Blame blame) {
  log::error("{}: rolling back {}: {}", app, failed, reason);
  // The way back is made ready while the failed revision still runs (its root mounted, its
  // container created), so that the app is down only from the failed process's end to the good
  // one's start; the bookkeeping comes after. Until the state below is recorded the journal stays
  // open, and a crash anywhere in between rolls back again at the next start.
  bool to_running = false;
  Status prepared = Ok();
  const auto standby = TakeStandby(app);
  const bool from_standby = to && standby == *to;
  if (to && !from_standby) {
    // After a crash before the old revision was stopped, it still runs: keep it.
    auto state = runtime_.State(ContainerId(app, *to));
    to_running = state && state->status == runtime::ContainerStatus::kRunning;
    if (!to_running) {
      prepared = CreateRevision(app, *to);
      if (!prepared && prepared.error().Is(Errc::kCancelled)) {
        return Fail(std::move(prepared.error()).WithContext("rolling back " + failed));
      }
    }
  }
  if (auto st = runtime_.StopProcess(ContainerId(app, failed), options_.stop_grace); !st) {
    if (st.error().Is(Errc::kCancelled)) {
      // ferryd is stopping: nothing is recorded yet, so the next start rolls back again.
      return Fail(std::move(st.error()).WithContext("rolling back " + failed));
    }
    log::warn("{}: stopping {} failed: {}", app, failed, st.error().message());
  }
  Crashpoint(kRollbackAfterStop);
  Status restarted = Ok();
  if (to && !to_running) {
    restarted = prepared ? runtime_.Start(ContainerId(app, *to)) : prepared;
    if (!restarted && from_standby && !restarted.error().Is(Errc::kCancelled)) {
      // The standby is gone or broken: the way back without it.
      log::warn("{}: starting the standby container of {}: {}", app, *to,
                restarted.error().message());
      restarted = CreateRevision(app, *to);
      if (restarted) {
        restarted = runtime_.Start(ContainerId(app, *to));
      }
    }
    if (!restarted) {
      log::error("{}: could not start {} again: {}", app, *to, restarted.error().message());
    }
  }
  Crashpoint(kRollbackAfterStartOld);
  if (auto st = runtime_.Delete(ContainerId(app, failed)); !st) {
    log::warn("{}: removing the container of {}: {}", app, failed, st.error().message());
  }
  // Its root filesystem is not needed until someone installs it again.
  if (auto st = UnmountRevisionRootfs(layout_.revision(app, failed)); !st) {
    log::warn("{}: unmounting {}: {}", app, failed, st.error().message());
  }
  (void)store_.FinishStep(failed, "trial");  // ends its timing, when the trial had started
  std::string full_reason = reason;
  if (!details.empty() && reason.find(details) == std::string::npos) {
    full_reason += "; last probe output: " + details.substr(0, 1024);
  }
  if (auto st = store_.InTransaction([&]() -> Status {
        if (blame == Blame::kInterrupted) {
          return store_.SetRevisionState(failed, store::RevisionState::kInterrupted, full_reason);
        }
        if (blame == Blame::kInterruptedRevert) {
          // Still the good revision it was before the revert: the user's way back stays.
          return store_.SetRevisionState(failed, store::RevisionState::kCommitted);
        }
        if (auto s =
                store_.SetRevisionState(failed, store::RevisionState::kRolledBack, full_reason);
            !s) {
          return s;
        }
        return store_.MarkRevisionBad(failed, full_reason);
      });
      !st) {
    return st;
  }
  Crashpoint(kRollbackAfterState);
  std::string version;
  if (auto rec = store_.GetRevision(failed)) {
    version = rec->version;
  }
  if (to) {
    if (auto st = fs::ReplaceSymlink(layout_.current_link(app), RevisionLink(*to)); !st) {
      return st;
    }
    Crashpoint(kRollbackAfterCurrentLink);
    const auto previous = LastGood(app, *to);
    if (previous) {
      if (auto st = fs::ReplaceSymlink(layout_.previous_link(app), RevisionLink(*previous)); !st) {
        return st;
      }
    } else if (::unlink(layout_.previous_link(app).c_str()) != 0 && errno != ENOENT) {
      return Fail(ErrnoError("unlink " + layout_.previous_link(app).string()));
    }
    Crashpoint(kRollbackAfterLinks);
    if (auto st = store_.SetAppRevisions(app, to, previous); !st) {
      return st;
    }
    Crashpoint(kRollbackAfterRecord);
  } else {
    for (const auto& link : {layout_.current_link(app), layout_.previous_link(app)}) {
      if (::unlink(link.c_str()) != 0 && errno != ENOENT) {
        return Fail(ErrnoError("unlink " + link.string()));
      }
    }
    if (auto st = store_.SetAppRevisions(app, std::nullopt, std::nullopt); !st) {
      return st;
    }
  }
  if (auto rec = store_.GetApp(app)) {
    ReleaseStrayRevisions(*rec);
  }
  (void)Report(ctx, "rolled-back", app, failed, version, full_reason);
  return restarted;
}

Status Engine::MarkRetried(const store::RevisionRecord& rev, const std::string& by) {
  const std::string retried = by + " retried it after: " + rev.reason;
  if (auto st = store_.RetryRevision(rev.id, retried); !st) {
    return st;
  }
  // In the history (`ferry history`, `ferry why`), not an event: the install that follows, if
  // any, reports itself.
  log::warn("{} {}: marked bad, and retried on purpose by {}", rev.app, rev.id, by);
  return Ok();
}

Result<std::vector<std::string>> Engine::RetryBad(const std::string& app,
                                                  const std::string& version,
                                                  const std::string& by) {
  std::lock_guard run_lock(run_mu_);
  auto revs = store_.ListRevisions(app);
  if (!revs) {
    return Fail(revs.error());
  }
  std::vector<std::string> retried;
  for (const auto& r : *revs) {
    if (r.version == version && r.bad) {
      if (auto st = MarkRetried(r, by); !st) {
        return Fail(st.error());
      }
      retried.push_back(r.id);
    }
  }
  if (retried.empty()) {
    return Fail(Errc::kNotFound, app + " " + version + " is not marked bad on this device");
  }
  return retried;
}

Result<InstallResult> Engine::Revert(const std::string& app, std::optional<std::string> revision) {
  std::lock_guard run_lock(run_mu_);
  auto rec = store_.GetApp(app);
  if (!rec) {
    return Fail(rec.error());
  }
  if (!revision) {
    revision = rec->previous_revision;
    if (!revision) {
      return Fail(Errc::kNotFound, app + " has no previous revision to revert to");
    }
  }
  if (revision == rec->current_revision) {
    return Fail(Errc::kFailedPrecondition,
                *revision + " is already " + app + "'s current revision");
  }
  auto target = store_.GetRevision(*revision);
  if (!target || target->app != app) {
    return Fail(Errc::kNotFound, app + " has no revision " + *revision);
  }
  if (target->bad) {
    return Fail(Errc::kFailedPrecondition, *revision + " was marked bad: " + target->reason);
  }
  if (!Exists(layout_.revision_rootfs(app, *revision))) {
    return Fail(Errc::kNotFound, *revision + " is no longer on disk");
  }
  Crashpoint(kRevertBeforeSwitch);
  auto result =
      SwitchAndTrial(app, *revision, rec->current_revision, std::string(kRevertStep), Context{});
  reporter_.ClearProgress(app);
  return result;
}

Status Engine::GarbageCollect(const std::string& app) {
  auto rec = store_.GetApp(app);
  auto revs = store_.ListRevisions(app);
  if (!rec || !revs) {
    return Fail((rec ? revs.error() : rec.error()));
  }
  std::size_t committed_kept = 0;
  for (auto it = revs->rbegin(); it != revs->rend(); ++it) {
    const bool pinned = it->id == rec->current_revision || it->id == rec->previous_revision;
    bool keep = pinned;
    if (!keep && it->state == store::RevisionState::kCommitted && !it->bad &&
        committed_kept < options_.keep_revisions) {
      keep = true;
    }
    if (it->state == store::RevisionState::kCommitted && !it->bad) {
      ++committed_kept;
    }
    const stdfs::path dir = layout_.revision(app, it->id);
    if (keep || (it->state == store::RevisionState::kRemoved && !Exists(dir))) {
      continue;
    }
    // Intent first (the folder leaves its name), then the records, then the files: a crash in
    // between leaves a .deleting folder that recovery removes, and records that the next
    // collection finishes, never a revision half on disk under its own name.
    Crashpoint(kGcRevisionBeforeRename);
    auto doomed = RetireRevisionDir(dir);
    if (!doomed) {
      return Fail(doomed.error());
    }
    Crashpoint(kGcRevisionAfterRename);
    if (auto st = store_.SetRevisionLayers(it->id, {}); !st) {
      return st;
    }
    if (it->state == store::RevisionState::kCommitted) {
      (void)store_.SetRevisionState(it->id, store::RevisionState::kRemoved);
    }
    Crashpoint(kGcRevisionAfterForget);
    if (auto st = RemoveRevisionDir(*doomed); !st) {
      return st;
    }
    Crashpoint(kGcRevisionAfterRemove);
  }
  return RemoveUnreferencedLayers(store_, layout_);
}

Status Engine::Recover() {
  std::lock_guard run_lock(run_mu_);
  auto unfinished = store_.UnfinishedJournal();
  if (!unfinished) {
    return Fail(unfinished.error());
  }
  std::vector<store::JournalEntry> retry;
  for (const auto& e : *unfinished) {
    if (!e.to_revision) {
      (void)store_.FinishJournal(e.id);
      continue;
    }
    // ferryd's own stop or death cut the switch or trial short: that says nothing about the
    // revision, unless it keeps happening.
    auto interruptions =
        store_.CountRevision(*e.to_revision, store::RevisionCounter::kInterruptions);
    const bool give_up = !interruptions || *interruptions > kMaxInterruptions;
    // A revert goes back to a revision that was committed before: cut short, it still is.
    const Blame blame = give_up                 ? Blame::kRevision
                        : e.step == kRevertStep ? Blame::kInterruptedRevert
                                                : Blame::kInterrupted;
    const std::string reason =
        give_up ? "interrupted " + std::to_string(interruptions ? *interruptions : 0) +
                      " times: ferryd stopped during the switch or trial of this revision"
                : "interrupted: ferryd stopped during the switch or trial of this revision";
    if (!give_up && !e.from_revision) {
      // A first install has nothing to go back to: try it again rather than run nothing.
      log::warn("{}: ferryd stopped during the {} to {}; trying it again", e.app, e.step,
                *e.to_revision);
      retry.push_back(e);
      continue;
    }
    log::warn("{}: ferryd stopped during the {} to {}; rolling back", e.app, e.step,
              *e.to_revision);
    if (auto st = RollBack(e.app, *e.to_revision, e.from_revision, reason, "", Context{}, blame);
        !st) {
      log::error("{}: recovery: {}", e.app, st.error().message());
    }
    Crashpoint(kRecoverAfterRollback);
    if (auto st = store_.FinishJournal(e.id); !st) {
      return st;
    }
    Crashpoint(kRecoverAfterJournal);
  }
  for (const auto& e : retry) {
    if (auto st = store_.FinishJournal(e.id); !st) {
      return st;
    }
    auto r = SwitchAndTrial(e.app, *e.to_revision, std::nullopt, e.step, Context{});
    reporter_.ClearProgress(e.app);
    if (!r) {
      log::error("{}: trying {} again: {}", e.app, *e.to_revision, r.error().message());
    }
  }
  auto apps = store_.ListApps();
  if (!apps) {
    return Fail(apps.error());
  }
  for (const auto& app : *apps) {
    // Staging leftovers, removals a crash interrupted, and the temp files of interrupted writes.
    SweepApp(app.name);
    Crashpoint(kRecoverAfterSweep);
    if (auto revs = store_.ListRevisions(app.name)) {
      for (const auto& r : *revs) {
        if (r.state == store::RevisionState::kStaging ||
            r.state == store::RevisionState::kDownloading ||
            r.state == store::RevisionState::kStaged) {
          (void)store_.SetRevisionState(r.id, store::RevisionState::kFailed,
                                        "interrupted: ferryd stopped while staging");
        }
      }
    }
    // Containers and mounts of revisions that are neither current nor previous.
    ReleaseStrayRevisions(app);
    // The database is the truth; the links follow it.
    const auto previous_link = layout_.previous_link(app.name);
    if (app.previous_revision) {
      std::error_code lec;
      if (stdfs::read_symlink(previous_link, lec) != RevisionLink(*app.previous_revision)) {
        if (auto st = fs::ReplaceSymlink(previous_link, RevisionLink(*app.previous_revision));
            !st) {
          return st;
        }
      }
    } else if (Exists(previous_link)) {
      (void)::unlink(previous_link.c_str());
    }
    const auto link = layout_.current_link(app.name);
    if (app.current_revision) {
      std::error_code lec;
      if (stdfs::read_symlink(link, lec) != RevisionLink(*app.current_revision)) {
        if (auto st = fs::ReplaceSymlink(link, RevisionLink(*app.current_revision)); !st) {
          return st;
        }
      }
      StartAtBoot(app);
    } else if (Exists(link)) {
      (void)::unlink(link.c_str());
    }
  }
  // Layers that no revision needs: those of an install a crash cut short (still "staging", or
  // unpacked before their revision was recorded), and those of a removal it interrupted.
  if (auto st = RemoveUnreferencedLayers(store_, layout_); !st) {
    log::warn("removing layers no revision needs: {}", st.error().message());
  }
  if (auto st = FinishRemovals(layout_.layers()); !st) {
    log::warn("finishing removals in {}: {}", layout_.layers().string(), st.error().message());
  }
  SweepTempFiles(layout_.layers());
  return Ok();
}

void Engine::StartAtBoot(const store::AppRecord& app) {
  const std::string& revision = *app.current_revision;
  const std::string id = ContainerId(app.name, revision);
  auto rec = store_.GetRevision(revision);
  if (rec && rec->bad) {
    // Marked bad by a rollback (a probation's) that ferryd's death cut short: finish it.
    if (const auto good = LastGood(app.name, revision)) {
      log::warn("{}: {} is marked bad; going back to {}", app.name, revision, *good);
      if (auto st = RollBack(app.name, revision, good, rec->reason, "", Context{}); !st) {
        log::error("{}: going back to {}: {}", app.name, *good, st.error().message());
      }
      return;
    }
  }
  auto state = runtime_.State(id);
  if (state && state->status == runtime::ContainerStatus::kRunning) {
    log::info("{}: adopted running container {}", app.name, id);
    if (rec && rec->start_attempts > 0) {
      (void)store_.ResetRevisionCount(revision, store::RevisionCounter::kStartAttempts);
    }
    return;
  }
  // Counted before the attempt, so that a start that takes ferryd (or the device) down with it
  // counts too.
  auto attempts = store_.CountRevision(revision, store::RevisionCounter::kStartAttempts);
  if (!attempts) {
    log::error("{}: counting the start of {}: {}", app.name, revision, attempts.error().message());
  }
  Crashpoint(kBootAfterCount);
  const std::uint32_t attempt = attempts ? *attempts : 1;
  Status started = Ok();
  if (attempt > kMaxStartAttempts) {
    started = Fail(Errc::kFailedPrecondition,
                   "gave up after " + std::to_string(kMaxStartAttempts) + " attempts");
  } else {
    log::info("{}: starting {}", app.name, revision);
    started = StartRevision(app.name, revision);
  }
  if (started) {
    (void)store_.ResetRevisionCount(revision, store::RevisionCounter::kStartAttempts);
    return;
  }
  const std::string version = rec ? rec->version : "";
  const std::string what = started.error().message();
  log::error("{}: could not start {} (attempt {} of {}): {}", app.name, revision, attempt,
             kMaxStartAttempts, what);
  const auto previous = LastGood(app.name, revision);
  if (attempt < kMaxStartAttempts || !previous) {
    (void)Report(Context{}, "failed", app.name, revision, version,
                 "could not start at boot (attempt " + std::to_string(attempt) + " of " +
                     std::to_string(kMaxStartAttempts) + "): " + what);
    return;
  }
  Crashpoint(kBootBeforeFallback);
  log::warn("{}: falling back to {}", app.name, *previous);
  if (auto st = RollBack(
          app.name, revision, previous,
          "could not start at " + std::to_string(kMaxStartAttempts) + " boots in a row: " + what,
          "", Context{});
      !st) {
    log::error("{}: falling back to {}: {}", app.name, *previous, st.error().message());
  }
  Crashpoint(kBootAfterFallback);
}

void Engine::ReleaseStrayRevisions(const store::AppRecord& app) {
  auto revs = store_.ListRevisions(app.name);
  if (!revs) {
    log::warn("{}: listing revisions: {}", app.name, revs.error().message());
    return;
  }
  for (const auto& r : *revs) {
    if (r.id == app.current_revision) {
      continue;
    }
    // A crash during an install or a rollback can leave a container "created" or running in
    // the runtime, with its cgroups: only the current revision's container may run.
    const std::string id = ContainerId(app.name, r.id);
    if (auto state = runtime_.State(id); state) {
      log::info("{}: removing container {} ({}): only the current revision's may be there",
                app.name, id, runtime::StatusName(state->status));
      if (auto st = runtime_.Stop(id, options_.stop_grace); !st) {
        log::warn("{}: removing container {}: {}", app.name, id, st.error().message());
      }
    }
    if (r.id == app.previous_revision) {
      continue;
    }
    if (auto st = UnmountRevisionRootfs(layout_.revision(app.name, r.id)); !st) {
      log::warn("{}: unmounting {}: {}", app.name, r.id, st.error().message());
    }
  }
}

void Engine::SweepTempFiles(const stdfs::path& dir) {
  if (auto removed = fs::RemoveTempFiles(dir); !removed) {
    log::warn("removing temp files in {}: {}", dir.string(), removed.error().message());
  } else if (*removed > 0) {
    log::info("removed {} temp files an interrupted write left in {}", *removed, dir.string());
  }
}

void Engine::SweepApp(const std::string& app) {
  std::error_code ec;
  const stdfs::path revisions = layout_.revisions(app);
  for (auto it = stdfs::directory_iterator(revisions, ec); !ec && it != stdfs::directory_iterator();
       it.increment(ec)) {
    const stdfs::path p = it->path();
    const std::string name = p.filename().string();
    if (name.ends_with(Layout::kBeingStagedSuffix) || name.ends_with(Layout::kBeingRemovedSuffix)) {
      if (auto st = RemoveRevisionDir(p); !st) {
        log::warn("{}: removing {}: {}", app, p.string(), st.error().message());
      }
      continue;
    }
    SweepTempFiles(p);
    SweepTempFiles(layout::RevisionOverlay(p));
  }
  SweepTempFiles(revisions);
  SweepTempFiles(layout_.app(app));
  SweepTempFiles(layout_.app_logs(app));
}

}  // namespace ferry::engine
