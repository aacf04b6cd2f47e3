#include "ferry/runtime/container_spec.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "ferry/runtime/errors.hpp"

namespace ferry::runtime {
namespace {

constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxPath = 1024;
constexpr std::size_t kMaxArg = 64u << 10;
constexpr std::size_t kMaxLabel = 4096;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [first][rest]* with at most kMaxName characters.
template <class First, class Rest>
bool MatchesName(std::string_view s, First first, Rest rest) {
  if (s.empty() || s.size() > kMaxName || !first(s[0])) {
    return false;
  }
  return std::all_of(s.begin() + 1, s.end(), rest);
}

bool IsNameRest(char c) { return IsLowerAlnum(c) || c == '_' || c == '.' || c == '-'; }
bool IsIdRest(char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; }

std::unexpected<Error> Invalid(std::string message) {
  return Fail(RuntimeErrc::kInvalidSpec, std::move(message));
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// An absolute path written in its one normal form: "/a/b", no empty, "." or ".." component.
Status CheckNormalAbsolute(std::string_view path, bool allow_root) {
  if (path.empty() || path[0] != '/') {
    return Invalid("path \"" + std::string(path) + "\" is not absolute");
  }
  if (path.size() > kMaxPath || HasNul(path)) {
    return Invalid("path is too long or holds a NUL byte");
  }
  if (path == "/") {
    if (allow_root) {
      return Ok();
    }
    return Invalid("path \"/\" is not allowed here");
  }
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view part = path.substr(pos, end - pos);
    if (part.empty() || part == "." || part == "..") {
      return Invalid("path \"" + std::string(path) +
                     "\" is not normalized (empty, \".\" or \"..\" component)");
    }
    pos = end + 1;
  }
  return Ok();
}

}  // namespace

const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CHOWN",   "DAC_OVERRIDE", "FSETID",           "FOWNER",
      "MKNOD",   "NET_RAW",      "SETGID",           "SETUID",
      "SETFCAP", "SETPCAP",      "NET_BIND_SERVICE", "SYS_CHROOT",
      "KILL",    "AUDIT_WRITE"};
  return caps;
}

Result<std::pair<std::uint32_t, std::uint32_t>> ParseUser(std::string_view user) {
  if (user.empty() || user == "root") {
    return std::make_pair(0u, 0u);
  }
  auto parse_id = [](std::string_view s) -> std::optional<std::uint32_t> {
    std::uint32_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
      return std::nullopt;
    }
    return v;
  };
  const std::size_t colon = user.find(':');
  const auto uid = parse_id(user.substr(0, colon));
  const auto gid = colon == std::string_view::npos ? uid : parse_id(user.substr(colon + 1));
  if (!uid || !gid) {
    return Invalid("user \"" + std::string(user) +
                   "\" is not numeric uid[:gid] (user names are not resolved from the image)");
  }
  return std::make_pair(*uid, *gid);
}

Status ValidateVolumeName(std::string_view name) {
  if (!MatchesName(name, IsLowerAlnum, IsNameRest)) {
    return Invalid("volume name \"" + std::string(name.substr(0, kMaxName)) +
                   "\" does not match [a-z0-9][a-z0-9_.-]* (at most 64 characters)");
  }
  return Ok();
}

Status ValidateContainerPath(std::string_view path) {
  FERRY_TRY_STATUS(CheckNormalAbsolute(path, /*allow_root=*/false), "container path");
  for (std::string_view kernel_dir : {"/proc", "/sys", "/dev"}) {
    if (path == kernel_dir || (path.starts_with(kernel_dir) && path.size() > kernel_dir.size() &&
                               path[kernel_dir.size()] == '/')) {
      return Invalid("container path \"" + std::string(path) + "\" is under " +
                     std::string(kernel_dir));
    }
  }
  return Ok();
}

Status ValidateSpec(const ContainerSpec& spec) {
  if (!MatchesName(spec.app, IsLowerAlnum, IsNameRest)) {
    return Invalid("app name \"" + spec.app.substr(0, kMaxName) +
                   "\" does not match [a-z0-9][a-z0-9_.-]*");
  }
  if (!MatchesName(spec.revision, IsAlnum, IsIdRest)) {
    return Invalid("revision \"" + spec.revision.substr(0, kMaxName) +
                   "\" does not match [A-Za-z0-9][A-Za-z0-9_.-]*");
  }
  if (!spec.rootfs.is_absolute()) {
    return Invalid("rootfs \"" + spec.rootfs.string() + "\" is not an absolute host path");
  }
  if (spec.args.empty() || spec.args[0].empty()) {
    return Invalid("no process to run (empty args)");
  }
  for (const auto& arg : spec.args) {
    if (arg.size() > kMaxArg || HasNul(arg)) {
      return Invalid("process argument too long or holding a NUL byte");
    }
  }
  for (const auto& e : spec.env) {
    const std::size_t eq = e.find('=');
    if (eq == 0 || eq == std::string::npos || e.size() > kMaxArg || HasNul(e)) {
      return Invalid("environment entry \"" + e.substr(0, kMaxName) + "\" is not KEY=value");
    }
  }
  FERRY_TRY_STATUS(CheckNormalAbsolute(spec.working_dir, /*allow_root=*/true), "working dir");
  if (spec.capabilities) {
    const auto& allowed = DefaultCapabilities();
    for (const auto& cap : *spec.capabilities) {
      const std::string bare = cap.starts_with("CAP_") ? cap.substr(4) : cap;
      if (std::find(allowed.begin(), allowed.end(), bare) == allowed.end()) {
        return Fail(RuntimeErrc::kRefused,
                    "capability \"" + cap.substr(0, kMaxName) +
                        "\" is outside Docker's default set and is never granted");
      }
    }
  }
  if (spec.limits.memory_bytes && *spec.limits.memory_bytes < (4u << 20)) {
    return Invalid("memory limit below 4 MiB");
  }
  if (spec.limits.pids && *spec.limits.pids < 1) {
    return Invalid("pids limit below 1");
  }
  if (spec.limits.cpus && !(*spec.limits.cpus >= 0.01 && *spec.limits.cpus <= 1024)) {
    return Invalid("cpu limit outside 0.01..1024");
  }
  std::vector<std::string> destinations = {"/tmp", "/run"};
  auto add_destination = [&](const std::string& path) -> Status {
    if (std::find(destinations.begin(), destinations.end(), path) != destinations.end()) {
      return Invalid("two mounts at \"" + path + "\"");
    }
    destinations.push_back(path);
    return Ok();
  };
  for (const auto& v : spec.volumes) {
    FERRY_TRY_STATUS(ValidateVolumeName(v.name), "volume");
    FERRY_TRY_STATUS(ValidateContainerPath(v.container_path), "volume " + v.name);
    FERRY_TRY_STATUS(add_destination(v.container_path), "volume " + v.name);
  }
  for (const auto& t : spec.tmpfs) {
    FERRY_TRY_STATUS(ValidateContainerPath(t.container_path), "tmpfs");
    FERRY_TRY_STATUS(add_destination(t.container_path), "tmpfs");
    if (t.size_bytes == 0) {
      return Invalid("tmpfs " + t.container_path + " has size 0");
    }
  }
  if (!spec.hostname.empty() && !MatchesName(spec.hostname, IsAlnum, [](char c) {
        return IsAlnum(c) || c == '-' || c == '.';
      })) {
    return Invalid("hostname \"" + spec.hostname.substr(0, kMaxName) + "\" is not a host name");
  }
  for (const auto& [key, value] : spec.labels) {
    if (key.empty() || key.size() > kMaxLabel || value.size() > kMaxLabel || HasNul(key) ||
        HasNul(value)) {
      return Invalid("label \"" + key.substr(0, kMaxName) + "\" is empty, too long or holds NUL");
    }
  }
  return Ok();
}

}  // namespace ferry::runtime
