// The TUF 1.0 client workflow (specification §5): root rotation, timestamp, snapshot and targets
// with rollback, freeze, mix-and-match and endless-data protection, delegated target search, and
// verified target download. What it trusts lives in a MetadataStore as the exact bytes received.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/trust/metadata.hpp"
#include "ferry/trust/metadata_store.hpp"

namespace ferry::trust {

struct UpdaterConfig {
  std::string metadata_base_url;           // where N.root.json, timestamp.json, … live
  std::string targets_base_url;            // where targets live
  std::uint32_t max_root_rotations = 256;  // new root versions accepted per refresh
  std::uint32_t max_delegations = 32;      // roles visited per target search
  // Download caps for metadata whose length is not signed.
  std::uint64_t root_max_length = 512'000;
  std::uint64_t timestamp_max_length = 16'384;
  std::uint64_t snapshot_max_length = 2'000'000;
  std::uint64_t targets_max_length = 5'000'000;
};

// Makes `root_bytes` the trusted root of an empty store (the pinned root a device ships with).
// With `verify`, the bytes must be root metadata signed by a threshold of its own root keys
// (TrustErrc::kMalformed / kBadSignature otherwise); without, they are stored as given and checked
// at the next refresh.
Status TrustRoot(MetadataStore& store, std::string_view root_bytes, bool verify = true);

class Updater {
 public:
  // `store`, `http` and `clock` must outlive the updater. Not thread-safe.
  Updater(MetadataStore& store, fetch::HttpClient& http, const Clock& clock, UpdaterConfig config);

  // Runs the client workflow for the top-level roles. On success every top-level role is trusted,
  // stored and unexpired at the effective time (max of the clock and the store's time floor), and
  // the time floor is raised to that time. Fails with a TrustErrc (or FetchErrc) code; metadata
  // verified before the failure (e.g. new root versions) stays trusted.
  Status Refresh();

  // Finds `target_path` by pre-order depth-first search of the delegation graph, refreshing first
  // if this updater has not refreshed yet. Fails with kTargetNotFound when no visited role lists
  // it, kLimitExceeded when the visit limit stopped the search.
  Result<TargetFile> GetTargetInfo(std::string_view target_path);

  // Downloads a target (at most its signed length) and returns its bytes once length and every
  // hash match. With consistent snapshots the URL is <dir>/<hash>.<name>.
  Result<std::string> DownloadTarget(const TargetFile& target);

  // The trusted root after Refresh (or nullptr before).
  const Metadata* root() const { return root_ ? &*root_ : nullptr; }

 private:
  Status LoadRoot();
  Status UpdateRoot();
  Status UpdateTimestamp();
  Status UpdateSnapshot();
  // Loads (from the store or the repository) the targets role `role`, whose keys and threshold
  // the delegator gives. Returns the trusted metadata, owned by targets_.
  Result<const Metadata*> LoadTargets(const std::string& role,
                                      const std::map<std::string, PublicKey>& keys,
                                      const RoleKeys& role_keys);
  // A stored role that still verifies against `keys`, or nullopt.
  std::optional<Metadata> LoadLocal(const std::string& role, std::string_view type,
                                    const std::map<std::string, PublicKey>& keys,
                                    const RoleKeys& role_keys);
  Result<std::string> FetchMetadata(const std::string& file_name, std::uint64_t max_bytes);

  MetadataStore& store_;
  fetch::HttpClient& http_;
  const Clock& clock_;
  UpdaterConfig config_;
  WallTime now_;
  bool refreshed_ = false;
  std::optional<Metadata> root_;
  std::optional<Metadata> timestamp_;
  std::optional<Metadata> snapshot_;
  std::map<std::string, Metadata> targets_;  // std::map: pointers stay valid as roles are added
};

}  // namespace ferry::trust
