// A release manifest: one version of one app, as ferry-publish signs it (a TUF target) and ferryd
// installs it. It pins every blob and delta by sha256 and size, so every byte a device uses is
// checked against a signed hash. The schema is in docs/protocol.md.
//
// Parsing is strict: a manifest is input from outside, so unknown fields in the parts ferryd acts
// on, wrong types, out-of-range numbers, malformed digests and oversized lists are errors that name
// the field ("layers[2].blob.digest: not a sha256 digest"), never a crash or a silent default.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/manifest/health_check.hpp"
#include "ferry/manifest/semver.hpp"

namespace ferry::manifest {

inline constexpr int kSchemaVersion = 1;
inline constexpr std::string_view kLayerMediaType = "application/vnd.ferry.layer.v1.tar+zstd";
inline constexpr std::string_view kDeltaMediaType = "application/vnd.ferry.delta.v1";

struct Blob {
  std::string digest;  // "sha256:<64 hex>"
  std::uint64_t size = 0;
};

struct Delta {
  std::string from_diff_id;  // the layer a device must already have
  Blob blob;
};

struct Layer {
  std::string diff_id;     // sha256 of the uncompressed tar, as OCI's diff_id
  std::uint64_t size = 0;  // size of the uncompressed tar
  // What the tar unpacks to, counted by ferry-publish (absent in manifests it wrote before it
  // counted them): its number of tar entries, and the sum of its regular files' sizes (sparse
  // files at their logical size). ferryd refuses a layer that exceeds either while staging it.
  std::optional<std::uint64_t> entries;
  std::optional<std::uint64_t> unpacked_size;
  Blob blob;  // zstd-compressed tar
  std::vector<Delta> deltas;
};

struct Volume {
  std::string name;  // [a-z0-9][a-z0-9_.-]*, at most 63 characters
  std::string path;  // absolute path inside the container
  bool read_only = false;
};

struct Resources {
  std::optional<std::uint64_t> memory_bytes;
  std::optional<std::uint64_t> pids;
  std::optional<std::uint64_t> cpu_millis;  // 1000 = one CPU
};

struct RuntimeConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string working_dir = "/";
  std::string user = "0:0";  // "uid:gid" (numeric: devices have no image passwd lookup)
  std::vector<std::uint16_t> ports;
  std::map<std::string, std::string> labels;
  std::vector<Volume> volumes;
  std::vector<std::string> capabilities;  // wanted, e.g. "NET_BIND_SERVICE"
  Resources resources;
  bool read_only_rootfs = true;
  // How the revision proves it is healthy (health_check.hpp), checked when the manifest is read;
  // none: the process check with its defaults.
  std::optional<HealthCheck> health;
};

struct Manifest {
  std::string app;  // [a-z0-9][a-z0-9_.-]*, at most 63 characters
  SemVer version;
  std::optional<SemVer> min_from_version;  // oldest running version that may update to this
  bool downgrade = false;  // signed permission to install over a newer version (fleet revert)
  std::string architecture = "amd64";
  RuntimeConfig config;
  std::vector<Layer> layers;
};

// Parses and validates manifest JSON bytes.
Result<Manifest> ParseManifest(std::string_view json_bytes);

// Serializes deterministically (sorted keys, no insignificant whitespace), so that publishing the
// same release twice gives the same bytes and the same hash.
std::string SerializeManifest(const Manifest& manifest);

// Checks shared by the parser and other modules.
bool IsSha256Digest(std::string_view s);  // "sha256:" + 64 lowercase hex
bool IsValidName(std::string_view s);     // app and volume names

}  // namespace ferry::manifest
