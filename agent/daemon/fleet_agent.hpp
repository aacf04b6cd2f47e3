// ferryd's side of the fleet API (docs/fleet-api.md): poll the assignment, queue what it asks
// for, deliver the event outbox in order, and send the inventory after every change.
//
// It runs on ferryd's network thread, never on the event loop nor the worker that installs: a
// server that is slow or gone delays only the next report, never an update's trial, and never
// causes a rollback. Installs are queued through InstallFn and end in Finished().
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "ferry/config/config.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/fleetclient/fleet_client.hpp"
#include "ferry/report/reporter.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::daemon {

// Who retries a release marked bad for `a` (with retry_bad): "operator (deployment d-4)".
inline std::string RetriedBy(const fleetclient::AssignedApp& a) {
  return "operator (deployment " + a.deployment + ")";
}

class FleetAgent {
 public:
  // Makes a client that presents `token`; called again when the token file changes.
  using ClientFactory =
      std::function<std::unique_ptr<fleetclient::FleetClient>(const std::string& token)>;
  // Queues an install of the assigned release on the worker; must not block.
  using InstallFn = std::function<void(const fleetclient::AssignedApp&)>;

  // A failed release is retried after kRetryFirst, doubling with each failure up to kRetryMax.
  static constexpr std::chrono::seconds kRetryFirst{60};
  static constexpr std::chrono::seconds kRetryMax{3600};

  // `clock` times the backoff of failed releases; the answers to deployments that end without an
  // install (already installed, marked bad, failed) go to `reporter`. Every reference must outlive
  // the agent.
  FleetAgent(store::StateStore& store, report::Reporter& reporter, const config::Config& config,
             const Clock& clock, ClientFactory factory, InstallFn install);

  // One round: deliver pending events, fetch the assignment (If-None-Match), queue the installs
  // it asks for, send the inventory if it changed. Returns what it saw, for `ferry check`. Fails
  // with the first error that stopped it (an unreachable server, 401, 429…).
  Result<nlohmann::json> Round();

  // Delivers the outbox, oldest first, in batches, until it is empty or the server fails.
  Result<std::size_t> DeliverEvents();
  // Sends the inventory when its apps differ from the last one the server acknowledged, or always
  // with `force`.
  Result<bool> SendInventory(bool force);

  // The worker reports how an install queued by this agent ended. A network failure (the server
  // unreachable, a timeout, a 5xx) is retried at the next round without an event. Any other
  // failure (a blob that fails its signed hash, a release the repository does not list or the
  // engine refuses, no space, a release that failed to stage) is sent once as a `failed` event
  // with its reason (a new reason is sent again), and the release is backed off: not tried again
  // before kRetryFirst, doubling up to kRetryMax, unless the assignment changes or ResetBackoff().
  // The backoff is kept in the state database and survives a ferryd restart (no download storm).
  // A revision marked bad here is never tried again by the agent.
  void Finished(const fleetclient::AssignedApp& assigned,
                const Result<engine::InstallResult>& result);

  // What the inventory says of an app's life after the update (the supervisor's view: running,
  // healthy, restarts, last_restart_reason, last_exit, since); set before the first round.
  using SupervisionFn = std::function<nlohmann::json(const std::string& app)>;
  void SetSupervision(SupervisionFn fn) { supervision_ = std::move(fn); }

  // Closes the client's connection to the server, which at poll intervals of minutes would only
  // hold TLS state and buffers until the server drops it; the next request opens one. Call it on
  // the thread that talks to the server, after a round.
  void CloseConnection();

  // Forgets every backoff, so that the next round tries failed releases at once (`ferry check`).
  void ResetBackoff();

  // When the release of `key` (AssignmentKey) may be tried again; nullopt when it is not backed
  // off.
  std::optional<Clock::TimePoint> RetryAt(const std::string& key) const;

  // How long the server asked us to wait (Retry-After of a 429/503 in the last round).
  std::optional<std::chrono::seconds> RetryAfter() const;

 private:
  Status EnsureClient();
  std::vector<std::string> QueueWanted();
  bool Wanted(const fleetclient::AssignedApp& a);
  nlohmann::json InventoryApps();

  // A release that failed: how often in a row, when it may be tried again, what was reported.
  struct Backoff {
    std::uint32_t failures = 0;
    Clock::TimePoint retry_at;
  };

  void BackOff(const std::string& key);
  // Writes the backoff of `key` to the state database; mu_ held.
  void SaveBackoff(const std::string& key);

  store::StateStore& store_;
  report::Reporter& reporter_;
  const config::Config& config_;
  const Clock& clock_;
  ClientFactory factory_;
  InstallFn install_;
  SupervisionFn supervision_;

  std::string token_;
  std::unique_ptr<fleetclient::FleetClient> client_;
  std::string etag_;
  std::optional<fleetclient::Assignment> assignment_;
  std::optional<nlohmann::json> inventory_sent_;

  mutable std::mutex mu_;                        // what follows is written by the worker too
  std::set<std::string> busy_;                   // apps with an install queued or running
  std::map<std::string, Backoff> backoff_;       // by app@version#deployment
  std::map<std::string, std::string> reported_;  // the failure last sent for a key
  std::set<std::string> settled_;  // keys whose outcome the server has (or will get) as an event
  std::optional<std::chrono::seconds> retry_after_;
};

// The key an assignment is remembered by: "app@version#deployment".
std::string AssignmentKey(const fleetclient::AssignedApp& a);

}  // namespace ferry::daemon
