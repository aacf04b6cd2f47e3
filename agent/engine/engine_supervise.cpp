// Engine::RestartCurrent: the supervisor's way back to a running app (agent/daemon/supervisor.hpp).
#include <mutex>

#include "ferry/engine/engine.hpp"
#include "ferry/manifest/health_check.hpp"

namespace ferry::engine {

Status Engine::RestartCurrent(const std::string& app) {
  std::lock_guard run_lock(run_mu_);
  if (Updating(app)) {
    return Fail(Errc::kUnavailable, app + " is being updated");
  }
  auto rec = store_.GetApp(app);
  if (!rec) {
    return Fail(rec.error());
  }
  if (!rec->current_revision) {
    return Fail(Errc::kNotFound, app + " has no current revision");
  }
  auto state = runtime_.State(ContainerId(app, *rec->current_revision));
  if (state && state->status == runtime::ContainerStatus::kRunning) {
    return Ok();
  }
  // The same path as a start at boot: mount the root if it is not, delete the dead container,
  // create and start it again.
  return StartRevision(app, *rec->current_revision);
}

Status Engine::FailProbation(const std::string& app, const std::string& revision,
                             const std::string& reason) {
  std::lock_guard run_lock(run_mu_);
  if (Updating(app)) {
    return Fail(Errc::kUnavailable, app + " is being updated");
  }
  auto rec = store_.GetApp(app);
  if (!rec) {
    return Fail(rec.error());
  }
  if (rec->current_revision != revision) {
    return Fail(Errc::kFailedPrecondition,
                revision + " is no longer " + app + "'s current revision");
  }
  auto rev = store_.GetRevision(revision);
  if (!rev) {
    return Fail(rev.error());
  }
  if (!rev->probation_until || *rev->probation_until <= clock_.WallNow()) {
    return Fail(Errc::kFailedPrecondition, revision + " is past its probation");
  }
  const auto to = LastGood(app, revision);
  if (!to) {
    return Fail(Errc::kNotFound, app + " has no good revision to go back to");
  }
  if (auto st = store_.SetProbation(revision, std::nullopt); !st) {
    return st;
  }
  return RollBack(app, revision, to, "probation: " + reason, "", Context{});
}

Result<manifest::HealthCheck> Engine::HealthCheckOf(const std::string& app,
                                                    const std::string& revision) {
  auto m = LoadRevisionManifest(app, revision);
  if (!m) {
    return Fail(m.error());
  }
  return m->config.health.value_or(manifest::HealthCheck{});
}

}  // namespace ferry::engine
