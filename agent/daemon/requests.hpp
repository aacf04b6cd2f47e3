// The control methods that change what a device runs (docs/protocol.md): revert, retry, install
// of an offline bundle, update from the repository. Each runs on ferryd's worker and replies with
// its outcome; the daemon decides where and when they run.
#pragma once

#include <nlohmann/json.hpp>

#include "ferry/bundle/bundle.hpp"
#include "ferry/core/cancel_token.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/offline_installer.hpp"
#include "ferry/update/remote_installer.hpp"
#include "fleet_agent.hpp"

namespace ferry::daemon {

// What the requests act on. Every reference must outlive the Requests; `remote` is null without
// a repository, `fleet` without a fleet server.
struct RequestTargets {
  store::StateStore& store;
  engine::Engine& engine;
  update::OfflineInstaller& offline;
  update::RemoteInstaller* remote = nullptr;
  FleetAgent* fleet = nullptr;
  const CancelToken& cancel;  // ferryd's stop
};

class Requests {
 public:
  explicit Requests(RequestTargets targets) : t_(targets) {}

  // Switches an app to a revision by hand ("revision", default its previous good one).
  Result<nlohmann::json> Revert(const nlohmann::json& params);
  // Lifts the bad mark of app@version on purpose (ferry retry); the next install of it tries it.
  Result<nlohmann::json> Retry(const nlohmann::json& params);
  // Installs an offline bundle already opened by OpenBundle.
  Result<nlohmann::json> Install(const bundle::BundleFile& file, bool retry_bad);
  // Installs app@version from the repository, as a fleet assignment would (ferry update).
  Result<nlohmann::json> Update(const nlohmann::json& params);
  // Refuses an update request before it is queued: a bad app or version, or no repository.
  Status CheckUpdate(const nlohmann::json& params) const;

  // The "bundle" parameter (an absolute path) opened for reading; never blocks (see BundleFile).
  static Result<bundle::BundleFile> OpenBundle(const nlohmann::json& params);
  // `"wait": false` in an install or update: reply once the request is accepted, not at its end.
  static bool Waits(const nlohmann::json& params);

 private:
  RequestTargets t_;
};

}  // namespace ferry::daemon
