// TUF 1.0 metadata as parsed from the bytes received: the checks that need no other metadata
// (type, spec version, field shapes) happen in ParseMetadata; signature thresholds in
// VerifyThreshold. Unknown fields are kept in `signed_json`, so signatures cover them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/trust/crypto.hpp"
#include "ferry/trust/json.hpp"

namespace ferry::trust {

using WallTime = std::chrono::system_clock::time_point;
using Hashes = std::vector<std::pair<std::string, std::string>>;  // algorithm → hex, in order

struct RoleKeys {
  std::vector<std::string> keyids;
  std::uint64_t threshold = 1;
};

struct MetaFile {  // an entry of timestamp's or snapshot's "meta"
  std::uint64_t version = 0;
  std::optional<std::uint64_t> length;
  Hashes hashes;  // may be empty
};

struct TargetFile {
  std::string path;
  std::uint64_t length = 0;
  Hashes hashes;  // never empty
};

struct DelegatedRole {
  std::string name;
  RoleKeys keys;
  bool terminating = false;
  std::optional<std::vector<std::string>> paths;
  std::optional<std::vector<std::string>> path_hash_prefixes;

  // Whether this role is trusted for `target_path`: a path pattern matches component by component
  // (`*` and `?` never cross `/`), or the sha256 of the path starts with a hash prefix.
  bool IsDelegatedPath(std::string_view target_path) const;
};

// Succinct hash-bin delegations (TAP 15): 2^bit_length terminating roles named
// "<prefix>-<bin in hex>", sharing one set of keys; a target belongs to the bin given by the first
// bit_length bits of the sha256 of its path.
struct SuccinctRoles {
  RoleKeys keys;
  unsigned bit_length = 1;
  std::string name_prefix;

  std::string RoleFor(std::string_view target_path) const;
};

struct Signature {
  std::string keyid;
  std::string sig;
};

struct Metadata {
  std::string type;  // "root", "timestamp", "snapshot" or "targets"
  std::uint64_t version = 0;
  WallTime expires;
  std::string spec_version;
  std::string canonical_signed;  // canonical JSON of "signed", what signatures cover
  std::vector<Signature> signatures;

  // root
  bool consistent_snapshot = false;
  std::map<std::string, PublicKey> keys;  // also a targets role's delegation keys
  std::map<std::string, RoleKeys> roles;

  // timestamp ("snapshot.json") and snapshot (all targets roles)
  std::map<std::string, MetaFile> meta;

  // targets
  std::map<std::string, TargetFile> targets;
  bool has_delegations = false;
  std::vector<DelegatedRole> delegated_roles;   // in order: the search order
  std::optional<SuccinctRoles> succinct_roles;  // instead of delegated_roles

  bool IsExpired(WallTime now) const { return now >= expires; }
};

// Parses `bytes` as metadata whose signed._type must be `expected_type`. Fails with
// TrustErrc::kMalformed (bad JSON, wrong type, bad field) naming what is wrong.
Result<Metadata> ParseMetadata(std::string_view bytes, std::string_view expected_type);

// Checks that `md` carries valid signatures of at least `role.threshold` distinct keys of `role`,
// drawn from `keys`. A signature by a key outside the role, a key listed twice, an unknown key
// type, or an invalid signature never counts (and never spoils valid ones). Fails with
// TrustErrc::kBadSignature.
Status VerifyThreshold(const Metadata& md, const std::map<std::string, PublicKey>& keys,
                       const RoleKeys& role, std::string_view role_name);

// Checks `bytes` against an optional signed length and a list of signed hashes. Every listed hash
// must match; an unknown algorithm fails (TrustErrc::kUnsupported), a mismatch fails with
// TrustErrc::kHashMismatch.
Status VerifyLengthAndHashes(std::string_view bytes, std::optional<std::uint64_t> length,
                             const Hashes& hashes);

// Percent-encodes everything except ASCII letters, digits and `_.-~`, so a role or target name is
// always a single safe file or URL path component.
std::string QuoteComponent(std::string_view name);

// A target path for a URL: each `/`-separated component quoted as above, and `.` / `..`
// components encoded (%2E) so that no client library or proxy resolves them away.
std::string QuoteTargetPath(std::string_view path);

// "2030-01-01T00:00:00Z" ↔ time point.
Result<WallTime> ParseExpires(std::string_view text);
std::string FormatExpires(WallTime t);

}  // namespace ferry::trust
