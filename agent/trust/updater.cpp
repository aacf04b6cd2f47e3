#include "ferry/trust/updater.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "ferry/core/log.hpp"
#include "ferry/trust/error.hpp"

namespace ferry::trust {
namespace {

std::string WithSlash(std::string url) {
  if (!url.empty() && url.back() != '/') {
    url += '/';
  }
  return url;
}

std::set<std::string> KeyIdSet(const Metadata& root, const std::string& role) {
  const auto it = root.roles.find(role);
  if (it == root.roles.end()) {
    return {};
  }
  return {it->second.keyids.begin(), it->second.keyids.end()};
}

std::string Expired(const std::string& role, const Metadata& md) {
  return role + " v" + std::to_string(md.version) + " expired at " + FormatExpires(md.expires);
}

}  // namespace

Status TrustRoot(MetadataStore& store, std::string_view root_bytes, bool verify) {
  std::uint64_t version = 0;
  WallTime expires{};
  auto md = ParseMetadata(root_bytes, "root");
  if (md) {
    version = md->version;
    expires = md->expires;
  }
  if (verify) {
    if (!md) {
      return std::unexpected(md.error().WithContext("trusted root"));
    }
    FERRY_TRY_STATUS(VerifyThreshold(*md, md->keys, md->roles.at("root"), "root"), "trusted root");
  }
  FERRY_TRY_STATUS(store.Save("root", root_bytes, version, expires), "storing trusted root");
  return Ok();
}

Updater::Updater(MetadataStore& store, fetch::HttpClient& http, const Clock& clock,
                 UpdaterConfig config)
    : store_(store), http_(http), clock_(clock), config_(std::move(config)) {
  config_.metadata_base_url = WithSlash(config_.metadata_base_url);
  config_.targets_base_url = WithSlash(config_.targets_base_url);
}

Result<std::string> Updater::FetchMetadata(const std::string& file_name, std::uint64_t max_bytes) {
  return http_.Get(config_.metadata_base_url + file_name, max_bytes);
}

std::optional<Metadata> Updater::LoadLocal(const std::string& role, std::string_view type,
                                           const std::map<std::string, PublicKey>& keys,
                                           const RoleKeys& role_keys) {
  auto bytes = store_.Load(role);
  if (!bytes || !*bytes) {
    return std::nullopt;
  }
  auto md = ParseMetadata(**bytes, type);
  if (!md) {
    log::warn("stored {} metadata ignored: {}", role, md.error().String());
    return std::nullopt;
  }
  // A stored role that no longer verifies was signed by keys since rotated away: it is no longer
  // trusted, which is what fast-forward recovery needs.
  if (auto ok = VerifyThreshold(*md, keys, role_keys, role); !ok) {
    log::info("stored {} metadata no longer trusted: {}", role, ok.error().String());
    return std::nullopt;
  }
  return std::move(*md);
}

Status Updater::LoadRoot() {
  auto bytes = store_.Load("root");
  if (!bytes) {
    return std::unexpected(bytes.error().WithContext("loading trusted root"));
  }
  if (!*bytes) {
    return Fail(TrustErrc::kNotTrusted, "no trusted root: initialise the client first");
  }
  auto md = ParseMetadata(**bytes, "root");
  if (!md) {
    return std::unexpected(md.error().WithContext("trusted root"));
  }
  FERRY_TRY_STATUS(VerifyThreshold(*md, md->keys, md->roles.at("root"), "root"), "trusted root");
  root_ = std::move(*md);
  return Ok();
}

Status Updater::UpdateRoot() {
  const auto old_timestamp_keys = KeyIdSet(*root_, "timestamp");
  const auto old_snapshot_keys = KeyIdSet(*root_, "snapshot");
  for (std::uint32_t i = 0; i < config_.max_root_rotations; ++i) {
    const std::uint64_t next = root_->version + 1;
    const std::string file = std::to_string(next) + ".root.json";
    auto bytes = FetchMetadata(file, config_.root_max_length);
    if (!bytes) {
      if (bytes.error().Is(fetch::FetchErrc::kNotFound)) {
        break;  // no newer root: the chain ends here
      }
      return std::unexpected(bytes.error());
    }
    auto md = ParseMetadata(*bytes, "root");
    if (!md) {
      return std::unexpected(md.error().WithContext(file));
    }
    // N+1 must be signed by the keys N trusts, and by its own.
    FERRY_TRY_STATUS(VerifyThreshold(*md, root_->keys, root_->roles.at("root"), "root"),
                     file + " (old root's keys)");
    if (md->version != next) {
      return Fail(TrustErrc::kRollback, file + ": has version " + std::to_string(md->version));
    }
    FERRY_TRY_STATUS(VerifyThreshold(*md, md->keys, md->roles.at("root"), "root"),
                     file + " (its own keys)");
    FERRY_TRY_STATUS(store_.Save("root", *bytes, md->version, md->expires), "storing " + file);
    root_ = std::move(*md);
  }
  if (root_->IsExpired(now_)) {
    return Fail(TrustErrc::kExpired, Expired("root", *root_));
  }
  // Fast-forward recovery (§5.3.11): new timestamp or snapshot keys reset the version floors of
  // both, since the old ones may have been forged to the maximum version with the old keys.
  if (KeyIdSet(*root_, "timestamp") != old_timestamp_keys ||
      KeyIdSet(*root_, "snapshot") != old_snapshot_keys) {
    FERRY_TRY_STATUS(store_.Remove("timestamp"), "fast-forward recovery");
    FERRY_TRY_STATUS(store_.Remove("snapshot"), "fast-forward recovery");
  }
  return Ok();
}

Status Updater::UpdateTimestamp() {
  const RoleKeys& role_keys = root_->roles.at("timestamp");
  std::optional<Metadata> trusted = LoadLocal("timestamp", "timestamp", root_->keys, role_keys);
  auto bytes = FetchMetadata("timestamp.json", config_.timestamp_max_length);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  auto md = ParseMetadata(*bytes, "timestamp");
  if (!md) {
    return std::unexpected(md.error().WithContext("timestamp.json"));
  }
  FERRY_TRY_STATUS(VerifyThreshold(*md, root_->keys, role_keys, "timestamp"), "timestamp.json");
  if (trusted) {
    if (md->version < trusted->version) {
      return Fail(TrustErrc::kRollback, "timestamp v" + std::to_string(md->version) +
                                            " is older than trusted v" +
                                            std::to_string(trusted->version));
    }
    if (md->version == trusted->version) {
      // Nothing new: keep what is trusted (and check its expiry below).
      if (trusted->IsExpired(now_)) {
        return Fail(TrustErrc::kExpired, Expired("timestamp", *trusted));
      }
      timestamp_ = std::move(*trusted);
      return Ok();
    }
    const auto old_snapshot = trusted->meta.at("snapshot.json").version;
    const auto new_snapshot = md->meta.at("snapshot.json").version;
    if (new_snapshot < old_snapshot) {
      return Fail(TrustErrc::kRollback, "timestamp lists snapshot v" +
                                            std::to_string(new_snapshot) + ", trusted is v" +
                                            std::to_string(old_snapshot));
    }
  }
  if (md->IsExpired(now_)) {
    return Fail(TrustErrc::kExpired, Expired("timestamp", *md));
  }
  FERRY_TRY_STATUS(store_.Save("timestamp", *bytes, md->version, md->expires), "storing timestamp");
  timestamp_ = std::move(*md);
  return Ok();
}

Status Updater::UpdateSnapshot() {
  const RoleKeys& role_keys = root_->roles.at("snapshot");
  const MetaFile& meta = timestamp_->meta.at("snapshot.json");
  std::optional<Metadata> trusted = LoadLocal("snapshot", "snapshot", root_->keys, role_keys);
  if (trusted && trusted->version == meta.version && !trusted->IsExpired(now_)) {
    snapshot_ = std::move(*trusted);
    return Ok();
  }
  const std::string file = root_->consistent_snapshot
                               ? std::to_string(meta.version) + ".snapshot.json"
                               : std::string("snapshot.json");
  auto bytes = FetchMetadata(file, meta.length.value_or(config_.snapshot_max_length));
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  FERRY_TRY_STATUS(VerifyLengthAndHashes(*bytes, meta.length, meta.hashes),
                   file + " against timestamp");
  auto md = ParseMetadata(*bytes, "snapshot");
  if (!md) {
    return std::unexpected(md.error().WithContext(file));
  }
  FERRY_TRY_STATUS(VerifyThreshold(*md, root_->keys, role_keys, "snapshot"), file);
  if (trusted) {
    if (md->version < trusted->version) {
      return Fail(TrustErrc::kRollback, "snapshot v" + std::to_string(md->version) +
                                            " is older than trusted v" +
                                            std::to_string(trusted->version));
    }
    for (const auto& [name, old] : trusted->meta) {
      const auto it = md->meta.find(name);
      if (it == md->meta.end()) {
        return Fail(TrustErrc::kRollback,
                    "snapshot v" + std::to_string(md->version) + " no longer lists " + name);
      }
      if (it->second.version < old.version) {
        return Fail(TrustErrc::kRollback, "snapshot lists " + name + " v" +
                                              std::to_string(it->second.version) +
                                              ", trusted is v" + std::to_string(old.version));
      }
    }
  }
  if (md->version != meta.version) {
    return Fail(TrustErrc::kRollback, "snapshot has version " + std::to_string(md->version) +
                                          ", timestamp lists " + std::to_string(meta.version));
  }
  if (md->IsExpired(now_)) {
    return Fail(TrustErrc::kExpired, Expired("snapshot", *md));
  }
  FERRY_TRY_STATUS(store_.Save("snapshot", *bytes, md->version, md->expires), "storing snapshot");
  snapshot_ = std::move(*md);
  return Ok();
}

Result<const Metadata*> Updater::LoadTargets(const std::string& role,
                                             const std::map<std::string, PublicKey>& keys,
                                             const RoleKeys& role_keys) {
  if (const auto it = targets_.find(role); it != targets_.end()) {
    // Loaded through another delegation, whose keys may not be this delegator's: a role is
    // trusted for a path only when the delegator of that path signed it.
    FERRY_TRY_STATUS(VerifyThreshold(it->second, keys, role_keys, role),
                     role + " as delegated on this path");
    return &it->second;
  }
  const auto meta_it = snapshot_->meta.find(role + ".json");
  if (meta_it == snapshot_->meta.end()) {
    return Fail(TrustErrc::kMalformed, "role " + role + " is not listed in snapshot");
  }
  const MetaFile& meta = meta_it->second;
  std::optional<Metadata> trusted = LoadLocal(role, "targets", keys, role_keys);
  if (trusted && trusted->version == meta.version && !trusted->IsExpired(now_)) {
    return &targets_.emplace(role, std::move(*trusted)).first->second;
  }
  const std::string quoted = QuoteComponent(role);
  const std::string file = root_->consistent_snapshot
                               ? std::to_string(meta.version) + "." + quoted + ".json"
                               : quoted + ".json";
  auto bytes = FetchMetadata(file, meta.length.value_or(config_.targets_max_length));
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  FERRY_TRY_STATUS(VerifyLengthAndHashes(*bytes, meta.length, meta.hashes),
                   file + " against snapshot");
  auto md = ParseMetadata(*bytes, "targets");
  if (!md) {
    return std::unexpected(md.error().WithContext(file));
  }
  FERRY_TRY_STATUS(VerifyThreshold(*md, keys, role_keys, role), file);
  if (md->version != meta.version) {
    return Fail(TrustErrc::kRollback, role + " has version " + std::to_string(md->version) +
                                          ", snapshot lists " + std::to_string(meta.version));
  }
  if (md->IsExpired(now_)) {
    return Fail(TrustErrc::kExpired, Expired(role, *md));
  }
  FERRY_TRY_STATUS(store_.Save(role, *bytes, md->version, md->expires), "storing " + role);
  return &targets_.emplace(role, std::move(*md)).first->second;
}

Status Updater::Refresh() {
  refreshed_ = false;
  root_.reset();
  timestamp_.reset();
  snapshot_.reset();
  targets_.clear();
  auto floor = store_.TimeFloor();
  if (!floor) {
    return std::unexpected(floor.error().WithContext("reading time floor"));
  }
  // A clock reset to the past (dead RTC battery) must not make expired metadata valid again.
  now_ = std::max(clock_.WallNow(), *floor);

  FERRY_TRY_STATUS(LoadRoot(), "refresh");
  FERRY_TRY_STATUS(UpdateRoot(), "refresh: root");
  FERRY_TRY_STATUS(UpdateTimestamp(), "refresh: timestamp");
  FERRY_TRY_STATUS(UpdateSnapshot(), "refresh: snapshot");
  auto targets = LoadTargets("targets", root_->keys, root_->roles.at("targets"));
  if (!targets) {
    return std::unexpected(targets.error().WithContext("refresh: targets"));
  }
  if (now_ > *floor) {
    FERRY_TRY_STATUS(store_.RaiseTimeFloor(now_), "raising time floor");
  }
  refreshed_ = true;
  return Ok();
}

Result<TargetFile> Updater::GetTargetInfo(std::string_view target_path) {
  if (!refreshed_) {
    FERRY_TRY_STATUS(Refresh(), "looking up " + std::string(target_path));
  }
  struct Visit {
    std::string role;
    const std::map<std::string, PublicKey>* keys;
    RoleKeys role_keys;
  };
  std::vector<Visit> stack;
  stack.push_back({"targets", &root_->keys, root_->roles.at("targets")});
  std::set<std::string> visited;
  std::uint32_t visits = 0;
  while (!stack.empty() && visits < config_.max_delegations) {
    Visit visit = std::move(stack.back());
    stack.pop_back();
    if (visited.contains(visit.role)) {
      continue;  // a cycle, or a role reached twice
    }
    ++visits;
    visited.insert(visit.role);
    auto md = LoadTargets(visit.role, *visit.keys, visit.role_keys);
    if (!md) {
      return std::unexpected(md.error().WithContext("looking up " + std::string(target_path)));
    }
    if (const auto it = (*md)->targets.find(std::string(target_path)); it != (*md)->targets.end()) {
      return it->second;
    }
    if (const auto& bins = (*md)->succinct_roles) {
      // Exactly one bin can hold the path, and it is terminating.
      stack.clear();
      stack.push_back({bins->RoleFor(target_path), &(*md)->keys, bins->keys});
      continue;
    }
    std::vector<Visit> children;
    for (const auto& child : (*md)->delegated_roles) {
      if (!child.IsDelegatedPath(target_path)) {
        continue;
      }
      children.push_back({child.name, &(*md)->keys, child.keys});
      if (child.terminating) {
        // Nothing after a terminating delegation may speak for this path: drop the rest of the
        // search, including roles still waiting on the stack.
        stack.clear();
        break;
      }
    }
    stack.insert(stack.end(), std::make_move_iterator(children.rbegin()),
                 std::make_move_iterator(children.rend()));
  }
  if (!stack.empty()) {
    return Fail(TrustErrc::kLimitExceeded, "target " + std::string(target_path) +
                                               ": search stopped after visiting " +
                                               std::to_string(visits) + " roles");
  }
  return Fail(TrustErrc::kTargetNotFound,
              "target " + std::string(target_path) + " is not listed in trusted metadata");
}

Result<std::string> Updater::DownloadTarget(const TargetFile& target) {
  std::string path = QuoteTargetPath(target.path);
  if (root_ && root_->consistent_snapshot) {
    const std::size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    path = dir + target.hashes.front().second + "." + name;
  }
  auto bytes = http_.Get(config_.targets_base_url + path, target.length);
  if (!bytes) {
    return std::unexpected(bytes.error().WithContext("target " + target.path));
  }
  FERRY_TRY_STATUS(VerifyLengthAndHashes(*bytes, target.length, target.hashes),
                   "target " + target.path);
  return bytes;
}

}  // namespace ferry::trust
