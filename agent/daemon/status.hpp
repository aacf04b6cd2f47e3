// The "status" control method: what the device runs and what it is doing, from the database.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "ferry/config/config.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/report/reporter.hpp"
#include "ferry/store/state_store.hpp"
#include "supervisor.hpp"

namespace ferry::daemon {

struct AgentInfo {
  const config::Config* config = nullptr;
  std::chrono::steady_clock::time_point started;
  // True from start until recovery (finishing or undoing what a crash cut short, and sweeping its
  // leftovers) is done: what the state dir holds may still change without any command.
  bool recovering = false;
  store::WallTime now;  // a current revision whose probation ends after this shows it
};

Result<nlohmann::json> BuildStatus(store::StateStore& store, const AgentInfo& agent);

// A download whose bytes have not grown for this long shows no speed.
inline constexpr std::chrono::seconds kStalledAfter{2};

// Adds each update in flight to `status` as its app's "update" (step, revision, version, bytes
// and speed as of `now`); an app not yet installed (a first install, still downloading) is listed
// without revisions.
void AddUpdates(nlohmann::json& status, const std::map<std::string, report::Progress>& in_flight,
                Clock::TimePoint now);

// Adds what the supervisor knows now of each app: whether it runs, and how often it had to be
// restarted.
void AddSupervision(nlohmann::json& status, const std::map<std::string, Supervision>& supervised,
                    RestartPolicy policy);

}  // namespace ferry::daemon
