// The "history" and "why" control methods: an app's revisions with their steps, and the last
// thing that went wrong with it, read from the state database.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::daemon {

// The "app" parameter of a request: a valid app name, or kInvalidArgument.
Result<std::string> AppParam(const nlohmann::json& params);

// Milliseconds since the epoch, as times are shown in replies.
std::int64_t Millis(store::WallTime t);

// Every revision of the app, oldest first, with its state, bad mark, reason and steps.
Result<nlohmann::json> HistoryView(store::StateStore& store, const nlohmann::json& params);

// The app's latest failure: a revision rolled back, failed or interrupted, or a release that
// failed before it became a revision (on record only as its "failed" event); null when none.
Result<nlohmann::json> WhyView(store::StateStore& store, const nlohmann::json& params);

}  // namespace ferry::daemon
