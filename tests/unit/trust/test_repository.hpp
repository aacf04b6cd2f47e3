// An in-memory TUF repository for tests: keys of any supported type, root rotation, delegations,
// consistent snapshots. Publish() writes the files a server would serve into `files`, keyed by
// path ("metadata/1.root.json", "targets/<hash>.a.txt"); tests then tamper with them at will.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ferry/trust/json.hpp"
#include "ferry/trust/signer.hpp"

namespace ferry::trust::testing {

struct RoleDef {
  std::vector<std::string> keyids;
  std::uint64_t threshold = 1;
};

struct Delegation {
  std::string name = {};
  std::vector<std::string> keyids = {};
  std::uint64_t threshold = 1;
  bool terminating = false;
  std::vector<std::string> paths = {};
};

struct TargetsRole {
  std::uint64_t version = 1;
  std::chrono::system_clock::time_point expires;
  std::map<std::string, std::string> targets;  // path → content
  std::map<std::string, Json> delegation_keys;
  std::vector<Delegation> delegations;
  bool has_delegations = false;
};

class TestRepository {
 public:
  // A repository whose roles each have one fresh key of `type`, versions 1, expiring a year
  // after `now`. Nothing is published yet.
  explicit TestRepository(KeyType type, std::chrono::system_clock::time_point now);

  SigningKey NewKey();  // of the repository's key type
  // Adds `key` to a top-level role in root and to that role's signers.
  void AddRootKey(const std::string& role, const SigningKey& key);
  // Removes every key of a top-level role (from root and from its signers).
  void ClearRootKeys(const std::string& role);
  // Delegates from `parent` to a new role signed by a new key; returns that key.
  SigningKey Delegate(const std::string& parent, Delegation delegation);

  // Builds and signs each role from the fields below and stores it in `files`. Root is written as
  // metadata/<version>.root.json (and root.json), signed by root signers and `extra_root_signers`.
  void PublishRoot();
  // Builds targets roles, snapshot and timestamp (in that order) and the target files.
  void Publish();
  // Bumps targets, snapshot and timestamp versions and publishes.
  void BumpAndPublish();

  // Signs a `signed` object with keys, as full metadata bytes.
  static std::string Sign(const Json& signed_json, const std::vector<SigningKey>& keys);
  // The signed object of a role as the next Publish would build it.
  Json RootSigned() const;
  Json TargetsSigned(const std::string& role) const;

  std::string MetadataPath(const std::string& role, std::uint64_t version) const;
  // Where a target with this content is served: targets/<dir>/<sha256>.<name> when consistent.
  std::string TargetPathFor(const std::string& path, const std::string& content) const;

  KeyType key_type;
  std::chrono::system_clock::time_point now;
  bool consistent_snapshot = true;
  bool snapshot_meta_hashes = true;  // hashes and length of snapshot in timestamp
  bool targets_meta_hashes = false;  // hashes and length of targets roles in snapshot
  std::uint64_t root_version = 1;
  std::chrono::system_clock::time_point root_expires;
  std::map<std::string, Json> root_keys;  // keyid → public key object
  std::map<std::string, RoleDef> root_roles;
  std::uint64_t timestamp_version = 1;
  std::chrono::system_clock::time_point timestamp_expires;
  std::uint64_t snapshot_version = 1;
  std::chrono::system_clock::time_point snapshot_expires;
  std::map<std::string, TargetsRole> targets;              // "targets" and delegated roles
  std::map<std::string, std::vector<SigningKey>> signers;  // role → keys that sign it
  std::vector<SigningKey> extra_root_signers;              // e.g. old root keys during rotation
  // Called on each role's signed object before signing: unknown fields, bad values, …
  std::map<std::string, std::function<void(Json&)>> mutate;
  std::string spec_version = "1.0.31";

  std::map<std::string, std::string> files;
};

// A key of `type`, cached per type for speed (RSA generation is slow); `index` picks distinct keys.
SigningKey CachedKey(KeyType type, int index);

}  // namespace ferry::trust::testing
