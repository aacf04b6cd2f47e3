// The "status" control method: what the device runs and what it is doing, from the database.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>

#include "ferry/config/config.hpp"
#include "ferry/core/result.hpp"
#include "ferry/store/state_store.hpp"

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

}  // namespace ferry::daemon
