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
Status RemoveUnreferencedLayers(store::StateStore& store, const Layout& layout);

}  // namespace ferry::engine
