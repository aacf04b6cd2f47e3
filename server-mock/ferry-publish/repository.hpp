// A Ferry TUF repository as ferry-publish writes it (layout in docs/repository.md):
//   DIR/metadata/N.root.json, root.json (copy of the newest root), timestamp.json,
//                N.snapshot.json, N.targets.json
//   DIR/targets/<app>/<sha256 hex>.<version>.json   the manifest target "<app>/<version>.json"
//   DIR/blobs/sha256/<hex>                           layer blobs and deltas
// Repository holds the newest signed objects of each top-level role in memory; edits go through
// it and Commit() signs and writes the roles in the order that keeps the published repository
// consistent at every moment (targets, snapshot, then timestamp last).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/trust/json.hpp"
#include "ferry/trust/signer.hpp"
#include "repo_lock.hpp"

namespace ferry::publish {

inline constexpr std::string_view kSpecVersion = "1.0.31";
inline constexpr int kDefaultExpiresDays = 365;
inline constexpr int kDefaultTimestampDays = 7;

struct InitOptions {
  trust::KeyType key_type = trust::KeyType::kEd25519;
  std::uint64_t threshold = 1;      // signatures needed per role
  std::uint64_t keys_per_role = 0;  // keys made per role; 0 means `threshold`
  int expires_days = kDefaultExpiresDays;
};

// A release already in the repository.
struct Release {
  std::string target;  // "<app>/<version>.json"
  manifest::SemVer version;
  std::filesystem::path file;  // the stored target file
};

// Target name of a release manifest.
std::string ManifestTargetName(const std::string& app, const manifest::SemVer& version);
// Path (below DIR/targets/) where a target with this sha256 is stored: <dir>/<hex>.<name>, each
// component percent-quoted as the TUF client quotes it.
std::string TargetFilePath(const std::string& target_name, const std::string& sha256_hex);

class Repository {
 public:
  // Creates a new repository in `dir` with keys from (or made in) `keydir`. Fails with
  // kAlreadyExists when `dir` already holds metadata.
  static Status Init(const std::filesystem::path& dir, const std::filesystem::path& keydir,
                     const InitOptions& options);

  // Opens an existing repository; `keydir` may be empty for commands that do not sign. Fails
  // with kFailedPrecondition "not a Ferry repository" when DIR/metadata/1.root.json is missing.
  // kWrite holds the repository lock (repo_lock.hpp) exclusively while the object lives, so two
  // writers (or gc and a release's metadata step) never interleave. kRead holds it shared only
  // while the metadata is loaded, which gives a consistent snapshot of the roles; the object then
  // holds no lock and must not write. Either waits for a conflicting holder and fails with
  // kUnavailable when the wait runs out.
  enum class Access { kRead, kWrite };
  static Result<Repository> Open(const std::filesystem::path& dir,
                                 const std::filesystem::path& keydir, Access access);

  const std::filesystem::path& dir() const { return dir_; }
  // The `signed` objects of the newest roles (edit targets_signed() before Commit()).
  const trust::Json& root_signed() const { return root_; }
  trust::Json& targets_signed() { return targets_; }
  std::uint64_t root_version() const;

  // The releases of `app` (all apps when empty) listed in targets, sorted by version.
  std::vector<Release> Releases(const std::string& app) const;

  // Adds (or replaces) a target entry for the file content `bytes` and writes the file below
  // DIR/targets/ under its consistent-snapshot name. `custom` may be null.
  Status AddTarget(const std::string& name, const std::string& bytes, const trust::Json& custom);

  // Writes root version N+1 from `new_root` (its version and expiry are set here), signed by the
  // keys of KEYDIR in the old and the new root role; fails unless both thresholds are met.
  Status WriteNewRoot(trust::Json new_root, int expires_days = kDefaultExpiresDays);

  // Signs and writes targets and snapshot (versions bumped) when `bump_targets`, then timestamp
  // (version bumped, expiring in `timestamp_days`).
  Status Commit(bool bump_targets, int timestamp_days = kDefaultTimestampDays,
                int expires_days = kDefaultExpiresDays);

  // The loaded keys of KEYDIR (by key id).
  const std::map<std::string, trust::SigningKey>& keys() const { return keys_; }
  const std::filesystem::path& keydir() const { return keydir_; }
  // Makes `key` available for signing (a key just added to KEYDIR).
  void AddKey(const trust::SigningKey& key) { keys_.insert_or_assign(key.KeyId(), key); }
  std::uint64_t snapshot_version() const { return snapshot_version_; }
  std::uint64_t targets_version() const;
  // The bytes of metadata/timestamp.json as loaded: the file itself may be replaced since.
  const std::string& timestamp_bytes() const { return timestamp_bytes_; }

 private:
  Result<std::vector<trust::SigningKey>> SignersFor(const trust::Json& root,
                                                    const std::string& role) const;
  Result<std::string> SignRole(const trust::Json& signed_json, const std::string& role) const;

  Status Lock(LockMode mode);
  bool writable() const { return lock_ != nullptr; }

  std::filesystem::path dir_;
  std::filesystem::path keydir_;
  std::shared_ptr<UniqueFd> lock_;
  std::string timestamp_bytes_;
  std::map<std::string, trust::SigningKey> keys_;
  trust::Json root_;
  trust::Json targets_;
  std::uint64_t snapshot_version_ = 0;
  std::uint64_t timestamp_version_ = 0;
};

// Signs `signed_json` with `keys`: the metadata document bytes as served.
Result<std::string> SignDocument(const trust::Json& signed_json,
                                 const std::vector<trust::SigningKey>& keys);

// The expiry string `days` from now.
std::string ExpiresIn(int days);

// Key ids listed for a top-level role in a root's signed object, and its threshold.
std::vector<std::string> RoleKeyIds(const trust::Json& root, const std::string& role);
std::uint64_t RoleThreshold(const trust::Json& root, const std::string& role);

// The member `key` of a JSON object, created (null) when absent.
trust::Json& MutableMember(trust::Json& object, const std::string& key);

}  // namespace ferry::publish
