#include "test_repository.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>

#include "ferry/trust/crypto.hpp"
#include "ferry/trust/metadata.hpp"

namespace ferry::trust::testing {
namespace {

Json Str(std::string s) { return Json(std::move(s)); }
Json Int(std::uint64_t i) { return Json(static_cast<std::int64_t>(i)); }

Json StrArray(const std::vector<std::string>& items) {
  Json::Array a;
  for (const auto& s : items) {
    a.push_back(Str(s));
  }
  return Json(std::move(a));
}

Json Common(const std::string& type, std::uint64_t version,
            std::chrono::system_clock::time_point expires, const std::string& spec) {
  Json::Object o;
  o.emplace_back("_type", Str(type));
  o.emplace_back("spec_version", Str(spec));
  o.emplace_back("version", Int(version));
  o.emplace_back("expires", Str(FormatExpires(expires)));
  return Json(std::move(o));
}

Json MetaEntry(std::uint64_t version, const std::string* bytes) {
  Json::Object o;
  o.emplace_back("version", Int(version));
  if (bytes != nullptr) {
    o.emplace_back("length", Int(bytes->size()));
    Json::Object hashes;
    hashes.emplace_back("sha256", Str(Sha256Hex(*bytes)));
    o.emplace_back("hashes", Json(std::move(hashes)));
  }
  return Json(std::move(o));
}

int next_key_index = 0;

}  // namespace

SigningKey CachedKey(KeyType type, int index) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, SigningKey> cache;
  std::lock_guard lock(mu);
  const auto k = std::make_pair(static_cast<int>(type), index);
  auto it = cache.find(k);
  if (it == cache.end()) {
    auto key = SigningKey::Generate(type);
    EXPECT_TRUE(key.has_value());
    it = cache.emplace(k, std::move(*key)).first;
  }
  return it->second;
}

TestRepository::TestRepository(KeyType type, std::chrono::system_clock::time_point now_time)
    : key_type(type), now(now_time) {
  const auto year = std::chrono::hours(24 * 365);
  root_expires = timestamp_expires = snapshot_expires = now + year;
  targets["targets"].expires = now + year;
  for (const char* role : {"root", "timestamp", "snapshot", "targets"}) {
    root_roles[role];
    AddRootKey(role, NewKey());
  }
}

SigningKey TestRepository::NewKey() { return CachedKey(key_type, next_key_index++ % 24); }

void TestRepository::AddRootKey(const std::string& role, const SigningKey& key) {
  root_keys[key.KeyId()] = key.PublicKeyJson();
  root_roles[role].keyids.push_back(key.KeyId());
  signers[role].push_back(key);
}

void TestRepository::ClearRootKeys(const std::string& role) {
  root_roles[role].keyids.clear();
  signers[role].clear();
}

SigningKey TestRepository::Delegate(const std::string& parent, Delegation delegation) {
  SigningKey key = NewKey();
  auto& p = targets[parent];
  p.has_delegations = true;
  p.delegation_keys[key.KeyId()] = key.PublicKeyJson();
  delegation.keyids.push_back(key.KeyId());
  signers[delegation.name].push_back(key);
  auto& child = targets[delegation.name];
  child.expires = targets["targets"].expires;
  p.delegations.push_back(std::move(delegation));
  return key;
}

std::string TestRepository::Sign(const Json& signed_json, const std::vector<SigningKey>& keys) {
  const std::string canonical = Canonicalize(signed_json);
  Json::Array sigs;
  // A key in both the old and the new root signs once: clients refuse a repeated keyid.
  std::set<std::string> signed_by;
  for (const auto& key : keys) {
    if (!signed_by.insert(key.KeyId()).second) {
      continue;
    }
    auto sig = key.Sign(canonical);
    EXPECT_TRUE(sig.has_value());
    Json::Object s;
    s.emplace_back("keyid", Str(key.KeyId()));
    s.emplace_back("sig", Str(*sig));
    sigs.push_back(Json(std::move(s)));
  }
  Json::Object doc;
  doc.emplace_back("signatures", Json(std::move(sigs)));
  doc.emplace_back("signed", signed_json);
  // Not canonical on purpose (member order, trailing newline): clients must verify the canonical
  // form of what they received.
  return Serialize(Json(std::move(doc))) + "\n";
}

Json TestRepository::RootSigned() const {
  Json s = Common("root", root_version, root_expires, spec_version);
  s.Set("consistent_snapshot", Json(consistent_snapshot));
  Json::Object keys;
  for (const auto& [id, key] : root_keys) {
    keys.emplace_back(id, key);
  }
  s.Set("keys", Json(std::move(keys)));
  Json::Object roles;
  for (const auto& [name, role] : root_roles) {
    Json::Object r;
    r.emplace_back("keyids", StrArray(role.keyids));
    r.emplace_back("threshold", Int(role.threshold));
    roles.emplace_back(name, Json(std::move(r)));
  }
  s.Set("roles", Json(std::move(roles)));
  if (const auto it = mutate.find("root"); it != mutate.end()) {
    it->second(s);
  }
  return s;
}

Json TestRepository::TargetsSigned(const std::string& role) const {
  const TargetsRole& t = targets.at(role);
  Json s = Common("targets", t.version, t.expires, spec_version);
  Json::Object files_json;
  for (const auto& [path, content] : t.targets) {
    Json::Object f;
    f.emplace_back("length", Int(content.size()));
    Json::Object hashes;
    hashes.emplace_back("sha256", Str(Sha256Hex(content)));
    hashes.emplace_back("sha512", Str(*HashHex("sha512", content)));
    f.emplace_back("hashes", Json(std::move(hashes)));
    files_json.emplace_back(path, Json(std::move(f)));
  }
  s.Set("targets", Json(std::move(files_json)));
  if (t.has_delegations) {
    Json::Object keys;
    for (const auto& [id, key] : t.delegation_keys) {
      keys.emplace_back(id, key);
    }
    Json::Array roles;
    for (const auto& d : t.delegations) {
      Json::Object r;
      r.emplace_back("name", Str(d.name));
      r.emplace_back("keyids", StrArray(d.keyids));
      r.emplace_back("threshold", Int(d.threshold));
      r.emplace_back("terminating", Json(d.terminating));
      r.emplace_back("paths", StrArray(d.paths));
      roles.push_back(Json(std::move(r)));
    }
    Json::Object delegations;
    delegations.emplace_back("keys", Json(std::move(keys)));
    delegations.emplace_back("roles", Json(std::move(roles)));
    s.Set("delegations", Json(std::move(delegations)));
  }
  if (const auto it = mutate.find(role); it != mutate.end()) {
    it->second(s);
  }
  return s;
}

std::string TestRepository::MetadataPath(const std::string& role, std::uint64_t version) const {
  if (role == "timestamp" || (!consistent_snapshot && role != "root")) {
    return "metadata/" + QuoteComponent(role) + ".json";
  }
  return "metadata/" + std::to_string(version) + "." + QuoteComponent(role) + ".json";
}

std::string TestRepository::TargetPathFor(const std::string& path,
                                          const std::string& content) const {
  const std::string quoted = QuoteTargetPath(path);
  if (!consistent_snapshot) {
    return "targets/" + quoted;
  }
  const auto slash = quoted.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : quoted.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? quoted : quoted.substr(slash + 1);
  return "targets/" + dir + Sha256Hex(content) + "." + name;
}

void TestRepository::PublishRoot() {
  std::vector<SigningKey> keys = signers["root"];
  keys.insert(keys.end(), extra_root_signers.begin(), extra_root_signers.end());
  const std::string bytes = Sign(RootSigned(), keys);
  files["metadata/" + std::to_string(root_version) + ".root.json"] = bytes;
  files["metadata/root.json"] = bytes;
}

void TestRepository::Publish() {
  Json::Object snapshot_meta;
  for (const auto& [role, t] : targets) {
    const std::string bytes = Sign(TargetsSigned(role), signers[role]);
    files[MetadataPath(role, t.version)] = bytes;
    snapshot_meta.emplace_back(role + ".json",
                               MetaEntry(t.version, targets_meta_hashes ? &bytes : nullptr));
    for (const auto& [path, content] : t.targets) {
      files[TargetPathFor(path, content)] = content;
    }
  }
  Json snapshot = Common("snapshot", snapshot_version, snapshot_expires, spec_version);
  snapshot.Set("meta", Json(std::move(snapshot_meta)));
  if (const auto it = mutate.find("snapshot"); it != mutate.end()) {
    it->second(snapshot);
  }
  const std::string snapshot_bytes = Sign(snapshot, signers["snapshot"]);
  files[MetadataPath("snapshot", snapshot_version)] = snapshot_bytes;

  Json timestamp = Common("timestamp", timestamp_version, timestamp_expires, spec_version);
  Json::Object ts_meta;
  ts_meta.emplace_back(
      "snapshot.json",
      MetaEntry(snapshot_version, snapshot_meta_hashes ? &snapshot_bytes : nullptr));
  timestamp.Set("meta", Json(std::move(ts_meta)));
  if (const auto it = mutate.find("timestamp"); it != mutate.end()) {
    it->second(timestamp);
  }
  files[MetadataPath("timestamp", timestamp_version)] = Sign(timestamp, signers["timestamp"]);
}

void TestRepository::BumpAndPublish() {
  for (auto& [role, t] : targets) {
    ++t.version;
  }
  ++snapshot_version;
  ++timestamp_version;
  Publish();
}

}  // namespace ferry::trust::testing
