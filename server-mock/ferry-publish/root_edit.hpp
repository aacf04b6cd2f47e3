// Edits of the root's key lists shared by rotate and revoke.
#pragma once

#include <string>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/trust/json.hpp"
#include "repository.hpp"

namespace ferry::publish {

inline constexpr const char* kTopLevelRoles[] = {"root", "targets", "snapshot", "timestamp"};

// Fails with kInvalidArgument unless `role` is a top-level role.
Status CheckRole(const std::string& role);

// A copy of `root` whose `role` lists exactly `keyids` (public keys added from `new_keys`, keys
// no role uses any more dropped from "keys").
trust::Json WithRoleKeys(const trust::Json& root, const std::string& role,
                         const std::vector<std::string>& keyids,
                         const std::vector<trust::SigningKey>& new_keys);

// Signs the new root, re-signs targets, snapshot and timestamp (so they verify under the new
// keys), and retires the key files of `dropped` key ids that no role uses any more.
Status PublishRootChange(Repository& repo, trust::Json new_root,
                         const std::vector<std::string>& dropped);

}  // namespace ferry::publish
