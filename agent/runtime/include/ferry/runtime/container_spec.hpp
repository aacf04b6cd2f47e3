// What a container should run and with which limits, and how it becomes an OCI runtime
// config.json. Most values come from the application image, which Ferry does not trust beyond its
// signature: they are validated here, and none of them can become a host privilege or a host path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::runtime {

// A named volume: persistent app data under <state_dir>/volumes/<app>/<name>, kept across
// revisions and bind-mounted at `container_path`.
struct VolumeMount {
  std::string name;            // [a-z0-9][a-z0-9_.-]*, at most 64 characters
  std::string container_path;  // absolute, normalized, no "..", not under /proc, /sys or /dev
  bool read_only = false;
};

struct TmpfsMount {
  std::string container_path;
  std::uint64_t size_bytes = 64u << 20;
};

struct ResourceLimits {
  std::optional<std::uint64_t> memory_bytes;  // memory.limit (and the same memory+swap limit)
  std::optional<std::int64_t> pids;           // pids.max
  std::optional<double> cpus;                 // CPU share as a number of CPUs (0.5 = half a CPU)
};

struct ContainerSpec {
  std::string app;                // [a-z0-9][a-z0-9_.-]*: also names the log and volume folders
  std::string revision;           // [A-Za-z0-9][A-Za-z0-9_.-]*
  std::filesystem::path rootfs;   // host path chosen by ferryd (absolute)
  std::vector<std::string> args;  // argv of the container's process; args[0] non-empty
  std::vector<std::string> env;   // "KEY=value"
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string working_dir = "/";
  // Capabilities wanted, as "NET_BIND_SERVICE" or "CAP_NET_BIND_SERVICE". nullopt means Docker's
  // default set; anything outside that set is refused, never granted.
  std::optional<std::vector<std::string>> capabilities;
  bool read_only_root = true;
  ResourceLimits limits;
  std::vector<VolumeMount> volumes;
  std::vector<TmpfsMount> tmpfs;  // in addition to /tmp and /run, which are always there
  std::string hostname;           // empty: the app name
  std::map<std::string, std::string> labels;  // become OCI annotations, nothing else
};

// Host-side places the config refers to; these come from ferryd's configuration, never the image.
struct HostPaths {
  std::filesystem::path volumes_dir;      // <state_dir>/volumes/<app>: volume N is volumes_dir/N
  std::string cgroups_parent = "/ferry";  // the container's cgroup is <parent>/<app>-<revision>
  bool cgroup_namespace = true;           // false on kernels without cgroup namespaces (before 4.6)
  // Hard RLIMIT_NOFILE of the container (soft: at most 1024). Raising it past the runtime's own
  // hard limit needs CAP_SYS_RESOURCE, so RuncRuntime caps it at its own hard limit.
  std::uint64_t max_open_files = 65536;
  // Whether the kernel accounts swap per cgroup (memsw on cgroup v1, memory.swap.max on v2). When
  // it does, the memory limit also caps memory+swap; when not, runc would refuse a swap value.
  bool swap_limit = true;
};

// Docker's default capability set (14 names, without the CAP_ prefix).
const std::vector<std::string>& DefaultCapabilities();

// Parses an image's user field, "uid", "uid:gid" or "root"; names other than root are refused
// (resolving them would read the image's /etc/passwd, which the image controls).
Result<std::pair<std::uint32_t, std::uint32_t>> ParseUser(std::string_view user);

// Checks a volume name, and an absolute in-container path (normalized, no "..", not "/", not
// under /proc, /sys or /dev).
Status ValidateVolumeName(std::string_view name);
Status ValidateContainerPath(std::string_view path);

// Checks every field of `spec`; the error names the field and the offending value.
Status ValidateSpec(const ContainerSpec& spec);

// The OCI runtime config.json for `spec` with Ferry's hardened defaults: capabilities within
// Docker's default set, noNewPrivileges, a seccomp allow-list, read-only root with tmpfs /tmp and
// /run, masked and read-only /proc paths, cgroup limits, host network, private pid/ipc/uts/mount/
// cgroup namespaces. Fails with RuntimeErrc::kInvalidSpec or kRefused when ValidateSpec does.
Result<nlohmann::json> BuildOciConfig(const ContainerSpec& spec, const HostPaths& host_paths);

}  // namespace ferry::runtime
