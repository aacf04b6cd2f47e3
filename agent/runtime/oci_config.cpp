// BuildOciConfig: Ferry's hardened OCI runtime configuration (docs/testing.md §7).
#include <algorithm>
#include <cmath>

#include "ferry/runtime/container_spec.hpp"
#include "ferry/runtime/errors.hpp"
#include "seccomp_profile.hpp"

namespace ferry::runtime {
namespace {

using nlohmann::json;

constexpr std::uint64_t kTmpSize = 64u << 20;
constexpr std::uint64_t kRunSize = 16u << 20;
constexpr std::int64_t kCpuPeriodUs = 100'000;

// Kernel interfaces that leak host information or allow host changes, hidden or read-only as in
// Docker's defaults.
const std::vector<std::string>& MaskedPaths() {
  static const std::vector<std::string> paths = {"/proc/acpi",
                                                 "/proc/asound",
                                                 "/proc/kcore",
                                                 "/proc/keys",
                                                 "/proc/latency_stats",
                                                 "/proc/timer_list",
                                                 "/proc/timer_stats",
                                                 "/proc/sched_debug",
                                                 "/proc/scsi",
                                                 "/sys/firmware",
                                                 "/sys/devices/virtual/powercap"};
  return paths;
}

const std::vector<std::string>& ReadonlyPaths() {
  static const std::vector<std::string> paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                 "/proc/sysrq-trigger"};
  return paths;
}

json Mount(std::string destination, std::string type, std::string source,
           std::vector<std::string> options) {
  return {{"destination", std::move(destination)},
          {"type", std::move(type)},
          {"source", std::move(source)},
          {"options", std::move(options)}};
}

json TmpfsMountJson(const std::string& destination, std::uint64_t size, const char* mode) {
  return Mount(destination, "tmpfs", "tmpfs",
               {"nosuid", "nodev", "noexec", mode, "size=" + std::to_string(size)});
}

json Capabilities(const std::vector<std::string>& bare, bool root_user) {
  json caps = json::array();
  for (const auto& c : bare) {
    caps.push_back("CAP_" + c);
  }
  // A non-root process keeps capabilities only in its bounding set, as in Docker since
  // CVE-2022-24769: it can regain them only through a setuid or file-capability binary, which
  // noNewPrivileges disables.
  const json active = root_user ? caps : json::array();
  return {{"bounding", caps}, {"effective", active}, {"permitted", active}};
}

}  // namespace

Result<nlohmann::json> BuildOciConfig(const ContainerSpec& spec, const HostPaths& host_paths) {
  FERRY_TRY_STATUS(ValidateSpec(spec), "app " + spec.app.substr(0, 64));
  if (host_paths.volumes_dir.empty() && !spec.volumes.empty()) {
    return Fail(RuntimeErrc::kInvalidSpec, "volumes requested but no host volumes directory");
  }

  std::vector<std::string> caps;
  if (spec.capabilities) {
    for (const auto& c : *spec.capabilities) {
      std::string bare = c.starts_with("CAP_") ? c.substr(4) : c;
      if (std::find(caps.begin(), caps.end(), bare) == caps.end()) {
        caps.push_back(std::move(bare));
      }
    }
  } else {
    caps = DefaultCapabilities();
  }

  json process = {
      {"terminal", false},
      {"user", {{"uid", spec.uid}, {"gid", spec.gid}, {"additionalGids", json::array()}}},
      {"args", spec.args},
      {"env", spec.env},
      {"cwd", spec.working_dir},
      {"capabilities", Capabilities(caps, spec.uid == 0)},
      {"rlimits",
       {{{"type", "RLIMIT_NOFILE"},
         {"hard", host_paths.max_open_files},
         {"soft", std::min<std::uint64_t>(1024, host_paths.max_open_files)}}}},
      {"noNewPrivileges", true},
      {"oomScoreAdj", 500},
  };

  json mounts = json::array();
  mounts.push_back(Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(Mount("/dev/pts", "devpts", "devpts",
                         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}));
  mounts.push_back(
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  mounts.push_back(Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
  mounts.push_back(
      Mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}));
  mounts.push_back(TmpfsMountJson("/tmp", kTmpSize, "mode=1777"));
  mounts.push_back(TmpfsMountJson("/run", kRunSize, "mode=755"));
  for (const auto& t : spec.tmpfs) {
    mounts.push_back(TmpfsMountJson(t.container_path, t.size_bytes, "mode=1777"));
  }
  for (const auto& v : spec.volumes) {
    // The source is built from the validated name only: no image value reaches a host path.
    mounts.push_back(Mount(v.container_path, "bind", (host_paths.volumes_dir / v.name).string(),
                           {"rbind", "nosuid", "nodev", v.read_only ? "ro" : "rw"}));
  }

  json resources = {{"devices", {{{"allow", false}, {"access", "rwm"}}}}};
  if (spec.limits.memory_bytes) {
    const auto bytes = static_cast<std::int64_t>(*spec.limits.memory_bytes);
    resources["memory"] = {{"limit", bytes}};
    if (host_paths.swap_limit) {
      resources["memory"]["swap"] = bytes;
    }
  }
  if (spec.limits.pids) {
    resources["pids"] = {{"limit", *spec.limits.pids}};
  }
  if (spec.limits.cpus) {
    resources["cpu"] = {
        {"quota", static_cast<std::int64_t>(std::llround(*spec.limits.cpus * kCpuPeriodUs))},
        {"period", kCpuPeriodUs}};
  }

  // No network namespace: apps use the host network, as most device services must.
  json namespaces = {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}};
  if (host_paths.cgroup_namespace) {
    namespaces.push_back({{"type", "cgroup"}});
  }

  json annotations = json::object();
  for (const auto& [key, value] : spec.labels) {
    annotations[key] = value;
  }
  annotations["org.ferry.app"] = spec.app;
  annotations["org.ferry.revision"] = spec.revision;

  return json{
      {"ociVersion", "1.0.2"},
      {"process", std::move(process)},
      {"root", {{"path", spec.rootfs.string()}, {"readonly", spec.read_only_root}}},
      {"hostname", spec.hostname.empty() ? spec.app : spec.hostname},
      {"mounts", std::move(mounts)},
      {"annotations", std::move(annotations)},
      {"linux",
       {{"namespaces", std::move(namespaces)},
        {"resources", std::move(resources)},
        {"cgroupsPath", host_paths.cgroups_parent + "/" + spec.app + "-" + spec.revision},
        {"maskedPaths", MaskedPaths()},
        {"readonlyPaths", ReadonlyPaths()},
        {"seccomp", SeccompProfile(caps)}}},
  };
}

}  // namespace ferry::runtime
