// Removing unpacked layers that no revision on disk uses any more.
#pragma once

#include "ferry/core/result.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::engine {

// Removes every layer whose record has no revision referencing it: its directory, its whiteout
// list and its record. A revision references its layers only once it is staged, so this also
// takes back the layers of a staging that failed (a full disk must not stay full). The caller
// holds the engine's update lock: no staging may be running.
// A layer leaves its name first (a durable rename to Layout::BeingRemoved), then its record, then
// its files, so a crash never leaves a record of a half-removed layer.
Status RemoveUnreferencedLayers(store::StateStore& store, const Layout& layout);

// Start-up recovery of the layer store: removes the folders in `dir` whose removal a crash
// interrupted (*.deleting) and unfinished unpackings (*.partial).
Status FinishRemovals(const std::filesystem::path& dir);

}  // namespace ferry::engine
