// The state store the daemon's unit tests start from: the app "web" with two committed revisions,
// web-1 (1.0.0) and web-2 (2.0.0), its record times read from `clock` (which outlives the store).
// Call it inside ASSERT_NO_FATAL_FAILURE.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::daemon {

inline void OpenWebStore(const std::filesystem::path& path, const Clock& clock,
                         std::unique_ptr<store::StateStore>& store) {
  auto s = store::OpenStateStore(path, clock);
  ASSERT_TRUE(s) << s.error().message();
  store = std::move(*s);
  ASSERT_TRUE(store->PutApp("web"));
  for (const char* id : {"web-1", "web-2"}) {
    store::RevisionRecord r;
    r.id = id;
    r.app = "web";
    r.version = id[4] == '1' ? "1.0.0" : "2.0.0";
    r.manifest_digest = "sha256:" + std::string(64, 'a');
    r.state = store::RevisionState::kCommitted;
    ASSERT_TRUE(store->AddRevision(r));
  }
}

}  // namespace ferry::daemon
