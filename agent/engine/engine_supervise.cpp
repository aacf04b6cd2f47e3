// Engine::RestartCurrent: the supervisor's way back to a running app (agent/daemon/supervisor.hpp).
#include <mutex>

#include "ferry/engine/engine.hpp"

namespace ferry::engine {

Status Engine::RestartCurrent(const std::string& app) {
  std::lock_guard run_lock(run_mu_);
  {
    std::lock_guard lock(progress_mu_);
    if (progress_.contains(app)) {
      return Fail(Errc::kUnavailable, app + " is being updated");
    }
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

}  // namespace ferry::engine
