// What a state store's event outbox holds, for tests that check what ferryd will report.
#pragma once

#include <string>
#include <vector>

#include "ferry/store/state_store.hpp"

namespace ferry::testing {

// The kinds of the events in `store`'s outbox not yet delivered, oldest first.
inline std::vector<std::string> PendingEventKinds(store::StateStore& store) {
  std::vector<std::string> kinds;
  auto events = store.PendingEvents(1000);
  for (const auto& e : *events) {
    kinds.push_back(e.kind);
  }
  return kinds;
}

}  // namespace ferry::testing
