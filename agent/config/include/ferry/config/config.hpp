// ferryd's configuration: /etc/ferry/ferryd.toml, or the file named by --config. Only state_dir is
// required. Unknown keys, wrong types and missing required keys are errors naming the key and line,
// so a typo never silently falls back to a default on a device nobody can reach.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry::config {

inline constexpr std::string_view kDefaultConfigPath = "/etc/ferry/ferryd.toml";
inline constexpr std::string_view kDefaultSocketPath = "/run/ferry/ferryd.sock";

struct RuntimeConfig {
  std::filesystem::path runc = "/usr/sbin/runc";   // runc or crun binary
  std::filesystem::path root = "/run/ferry/runc";  // the runtime's --root state directory
  std::chrono::seconds stop_timeout{10};           // SIGTERM grace before SIGKILL
  std::uint64_t log_max_bytes = 1u << 20;          // per container log file, before rotation
  std::string cgroup_parent = "/ferry";  // containers' cgroups are <parent>/<app>-<revision>
  // How revisions' root filesystems are made: "auto" (overlay where the kernel allows it, else
  // a hardlink farm), "overlay" or "hardlink" (engine::ParseRootfsMode reads it).
  std::string rootfs = "auto";
};

struct LimitsConfig {
  std::uint64_t max_metadata_bytes = 1u << 20;  // TUF metadata without a signed length
  std::uint64_t min_free_bytes = 64u << 20;     // margin kept free on the state filesystem
  std::uint64_t min_free_inodes = 4096;
  std::uint64_t download_rate_limit = 0;  // bytes per second; 0 = unlimited
  std::uint64_t min_throughput = 1024;    // bytes per second before a transfer is dropped
  std::chrono::seconds min_throughput_window{30};
  std::uint32_t keep_revisions = 2;  // committed revisions kept per app
};

// How ferryd keeps apps running between updates (docs/operations.md, Restarts).
struct SuperviseConfig {
  // What an app's committed container that ends calls for: "always", "on-failure" (unless it
  // exited with status 0) or "never" (daemon::ParseRestartPolicy reads it).
  std::string restart = "always";
};

struct Config {
  std::filesystem::path state_dir;  // required
  std::filesystem::path socket{std::string(kDefaultSocketPath)};
  // Members of this group (a name or a gid) may use the read-only methods of the control socket
  // (status, history, why, logs); empty: only root.
  std::string control_group;
  std::string server_url;  // the fleet API (and, by default, the repository); empty: offline device
  // Where signed releases are fetched from (metadata/, targets/, blobs/): any static web server.
  // Defaults to server_url. Trailing slashes are dropped from both.
  std::string repository_url;
  std::filesystem::path device_token_file = "/etc/ferry/device-token";
  std::string proxy;  // HTTP(S) proxy for every download; empty: none (environment ignored)
  std::filesystem::path ca_file;  // PEM CA bundle for HTTPS; empty: the system's
  // This device's TLS client certificate and key (PEM) for a fleet server that requires them
  // (mutual TLS); both or neither.
  std::filesystem::path client_cert;
  std::filesystem::path client_key;
  std::filesystem::path trusted_root = "/etc/ferry/root.json";
  std::chrono::seconds poll_interval{300};
  std::string log_level = "info";
  RuntimeConfig runtime;
  LimitsConfig limits;
  SuperviseConfig supervise;
};

// Parses configuration text. `source` names it in error messages ("ferryd.toml:3: …").
Result<Config> ParseConfig(std::string_view text, std::string_view source);

// Reads and parses a configuration file.
Result<Config> LoadConfig(const std::filesystem::path& path);

// Parses a duration: a non-negative integer of seconds, or a string such as "90s", "5m", "2h".
Result<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace ferry::config
