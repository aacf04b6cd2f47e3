// Where a TUF client keeps what it trusts: the exact bytes of each role's metadata as received,
// and the time floor (the newest signed timestamp seen), so freeze and rollback attacks fail across
// restarts. ferryd keeps these in its SQLite state database (ferry::store); ferry-tuf-client keeps
// them as files in its metadata directory.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry::trust {

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // The bytes last stored for `role` ("root", "timestamp", "snapshot", "targets" or a delegated
  // role name), or nullopt when none is stored. Fails only when the store itself cannot be read.
  virtual Result<std::optional<std::string>> Load(std::string_view role) = 0;

  // Replaces the bytes for `role` durably; `version` and `expires` are the values the caller read
  // from the verified metadata, kept beside the bytes for people and queries.
  virtual Status Save(std::string_view role, std::string_view bytes, std::uint64_t version,
                      std::chrono::system_clock::time_point expires) = 0;

  // Forgets `role` (fast-forward recovery after a key rotation). Removing an absent role is not an
  // error.
  virtual Status Remove(std::string_view role) = 0;

  // The time floor: the newest signed-metadata time the device has accepted. Zero when unknown.
  virtual Result<std::chrono::system_clock::time_point> TimeFloor() = 0;
  virtual Status RaiseTimeFloor(std::chrono::system_clock::time_point t) = 0;
};

}  // namespace ferry::trust
