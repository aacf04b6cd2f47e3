#include "root_edit.hpp"

#include <algorithm>
#include <set>

#include "keys.hpp"

namespace ferry::publish {

using trust::Json;

Status CheckRole(const std::string& role) {
  if (std::none_of(std::begin(kTopLevelRoles), std::end(kTopLevelRoles),
                   [&](const char* r) { return role == r; })) {
    return Fail(Errc::kInvalidArgument,
                "unknown role '" + role + "' (choose root, targets, snapshot or timestamp)");
  }
  return Ok();
}

Json WithRoleKeys(const Json& root, const std::string& role, const std::vector<std::string>& keyids,
                  const std::vector<trust::SigningKey>& new_keys) {
  Json out = root;
  Json::Array ids;
  for (const auto& id : keyids) {
    ids.push_back(Json(id));
  }
  Json& roles = MutableMember(out, "roles");
  MutableMember(roles, role).Set("keyids", Json(std::move(ids)));
  std::set<std::string> used;
  for (const char* r : kTopLevelRoles) {
    for (const auto& id : RoleKeyIds(out, r)) {
      used.insert(id);
    }
  }
  Json::Object keys;
  if (const Json* old = root.Find("keys"); old != nullptr && old->IsObject()) {
    for (const auto& [id, key] : old->AsObject()) {
      if (used.contains(id)) {
        keys.emplace_back(id, key);
      }
    }
  }
  for (const auto& k : new_keys) {
    if (std::none_of(keys.begin(), keys.end(),
                     [&](const auto& m) { return m.first == k.KeyId(); })) {
      keys.emplace_back(k.KeyId(), k.PublicKeyJson());
    }
  }
  out.Set("keys", Json(std::move(keys)));
  return out;
}

Status PublishRootChange(Repository& repo, Json new_root, const std::vector<std::string>& dropped) {
  FERRY_TRY_STATUS(repo.WriteNewRoot(std::move(new_root)), "publishing the new root");
  FERRY_TRY_STATUS(repo.Commit(true), "re-signing targets, snapshot and timestamp");
  std::set<std::string> used;
  for (const char* r : kTopLevelRoles) {
    for (const auto& id : RoleKeyIds(repo.root_signed(), r)) {
      used.insert(id);
    }
  }
  for (const auto& id : dropped) {
    if (!used.contains(id)) {
      FERRY_TRY_STATUS(RetireKey(repo.keydir(), id), "retiring key " + id);
    }
  }
  return Ok();
}

}  // namespace ferry::publish
