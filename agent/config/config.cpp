#include "ferry/config/config.hpp"

#include <toml++/toml.h>

#include <charconv>
#include <functional>
#include <map>

#include "ferry/core/fs.hpp"

namespace ferry::config {
namespace {

std::string Where(std::string_view source, const toml::source_region& region) {
  std::string out(source);
  if (region.begin.line > 0) {
    out += ":" + std::to_string(region.begin.line);
  }
  return out;
}

// Reads one key into a field. Each setter reports a wrong type with the key's name and line.
using Setter =
    std::function<Status(const toml::node& node, const std::string& where, const std::string& key)>;

Status TypeError(const std::string& where, const std::string& key, std::string_view expected,
                 const toml::node& node) {
  std::string got;
  switch (node.type()) {
    case toml::node_type::string:
      got = "a string";
      break;
    case toml::node_type::integer:
      got = "an integer";
      break;
    case toml::node_type::floating_point:
      got = "a float";
      break;
    case toml::node_type::boolean:
      got = "a boolean";
      break;
    case toml::node_type::table:
      got = "a table";
      break;
    case toml::node_type::array:
      got = "an array";
      break;
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      got = "a date/time";
      break;
    case toml::node_type::none:
      got = "nothing";
      break;
  }
  return Fail(Errc::kInvalidArgument,
              where + ": key '" + key + "' must be " + std::string(expected) + ", not " + got);
}

// A string; `check` returns an empty string when the value is acceptable, else what it must be.
Setter String(std::string* out, std::function<std::string(const std::string&)> check = {}) {
  return [out, check](const toml::node& node, const std::string& where,
                      const std::string& key) -> Status {
    const auto* v = node.as_string();
    if (v == nullptr) {
      return TypeError(where, key, "a string", node);
    }
    if (check) {
      if (std::string want = check(v->get()); !want.empty()) {
        return Fail(Errc::kInvalidArgument, where + ": key '" + key + "' must " + want);
      }
    }
    *out = v->get();
    return Ok();
  };
}

// The check of a URL key: empty, or http(s).
std::string HttpUrl(const std::string& v) {
  if (v.empty() || v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0) {
    return "";
  }
  return "start with http:// or https://, not '" + v + "'";
}

Setter Path(std::filesystem::path* out, bool allow_empty = false) {
  return [out, allow_empty](const toml::node& node, const std::string& where,
                            const std::string& key) -> Status {
    const auto* v = node.as_string();
    if (v == nullptr) {
      return TypeError(where, key, "a path string", node);
    }
    const std::string& s = v->get();
    if (s.empty() && !allow_empty) {
      return Fail(Errc::kInvalidArgument, where + ": key '" + key + "' must not be empty");
    }
    if (!s.empty() && s.front() != '/') {
      return Fail(Errc::kInvalidArgument,
                  where + ": key '" + key + "' must be an absolute path, not '" + s + "'");
    }
    if (s.find('\0') != std::string::npos) {
      return Fail(Errc::kInvalidArgument, where + ": key '" + key + "' contains a NUL byte");
    }
    *out = s;
    return Ok();
  };
}

template <class T>
Setter Unsigned(T* out) {
  return [out](const toml::node& node, const std::string& where, const std::string& key) -> Status {
    const auto* v = node.as_integer();
    if (v == nullptr) {
      return TypeError(where, key, "a non-negative integer", node);
    }
    const std::int64_t n = v->get();
    if (n < 0 || static_cast<std::uint64_t>(n) > std::numeric_limits<T>::max()) {
      return Fail(Errc::kInvalidArgument,
                  where + ": key '" + key + "' is out of range: " + std::to_string(n));
    }
    *out = static_cast<T>(n);
    return Ok();
  };
}

Setter Duration(std::chrono::seconds* out, std::chrono::seconds min) {
  return [out, min](const toml::node& node, const std::string& where,
                    const std::string& key) -> Status {
    Result<std::chrono::seconds> d = Fail(Errc::kInvalidArgument, "");
    if (const auto* i = node.as_integer()) {
      if (i->get() < 0) {
        return Fail(Errc::kInvalidArgument, where + ": key '" + key + "' must not be negative");
      }
      d = std::chrono::seconds(i->get());
    } else if (const auto* s = node.as_string()) {
      d = ParseDuration(s->get());
      if (!d) {
        return Fail(Errc::kInvalidArgument, where + ": key '" + key + "': " + d.error().message());
      }
    } else {
      return TypeError(where, key, "a duration (seconds, or a string like \"5m\")", node);
    }
    if (*d < min) {
      return Fail(Errc::kInvalidArgument, where + ": key '" + key + "' must be at least " +
                                              std::to_string(min.count()) + "s");
    }
    *out = *d;
    return Ok();
  };
}

Status ApplyTable(const toml::table& table, const std::map<std::string, Setter>& setters,
                  const std::map<std::string, std::function<Status(const toml::table&)>>& tables,
                  std::string_view source, const std::string& prefix) {
  for (const auto& [key_node, node] : table) {
    const std::string key(key_node.str());
    const std::string full_key = prefix + key;
    const std::string where = Where(source, key_node.source());
    if (auto it = setters.find(key); it != setters.end()) {
      if (auto st = it->second(node, where, full_key); !st) {
        return st;
      }
      continue;
    }
    if (auto it = tables.find(key); it != tables.end()) {
      const auto* sub = node.as_table();
      if (sub == nullptr) {
        return TypeError(where, full_key, "a table", node);
      }
      if (auto st = it->second(*sub); !st) {
        return st;
      }
      continue;
    }
    return Fail(Errc::kInvalidArgument, where + ": unknown key '" + full_key + "'");
  }
  return Ok();
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) {
    return Fail(Errc::kInvalidArgument, "empty duration");
  }
  std::int64_t n = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || n < 0) {
    return Fail(Errc::kInvalidArgument, "'" + std::string(text) + "' is not a duration");
  }
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  } else {
    return Fail(Errc::kInvalidArgument,
                "'" + std::string(text) + "' has an unknown unit (use s, m, h or d)");
  }
  if (n > std::numeric_limits<std::int64_t>::max() / scale) {
    return Fail(Errc::kInvalidArgument, "'" + std::string(text) + "' is too long");
  }
  return std::chrono::seconds(n * scale);
}

Result<Config> ParseConfig(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    return Fail(Errc::kInvalidArgument,
                Where(source, err.source()) + ": " + std::string(err.description()));
  }
  Config config;
  bool have_state_dir = false;

  const std::map<std::string, Setter> runtime_keys = {
      {"runc", Path(&config.runtime.runc)},
      {"root", Path(&config.runtime.root)},
      {"stop_timeout", Duration(&config.runtime.stop_timeout, std::chrono::seconds(0))},
      {"log_max_bytes", Unsigned(&config.runtime.log_max_bytes)},
      {"cgroup_parent",
       String(&config.runtime.cgroup_parent,
              [](const std::string& v) -> std::string {
                const bool ok = v.size() >= 2 && v.size() <= 200 && v.front() == '/' &&
                                v.back() != '/' && v.find("..") == std::string::npos &&
                                v.find_first_not_of(
                                    "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789/._-") == std::string::npos;
                return ok ? "" : "be an absolute cgroup path like /ferry, not '" + v + "'";
              })},
      {"rootfs", String(&config.runtime.rootfs,
                        [](const std::string& v) -> std::string {
                          return v == "auto" || v == "overlay" || v == "hardlink"
                                     ? ""
                                     : "be one of auto, overlay, hardlink";
                        })},
  };
  const std::map<std::string, Setter> limits_keys = {
      {"max_metadata_bytes", Unsigned(&config.limits.max_metadata_bytes)},
      {"min_free_bytes", Unsigned(&config.limits.min_free_bytes)},
      {"min_free_inodes", Unsigned(&config.limits.min_free_inodes)},
      {"download_rate_limit", Unsigned(&config.limits.download_rate_limit)},
      {"min_throughput", Unsigned(&config.limits.min_throughput)},
      {"min_throughput_window",
       Duration(&config.limits.min_throughput_window, std::chrono::seconds(1))},
      {"keep_revisions", Unsigned(&config.limits.keep_revisions)},
  };
  const std::map<std::string, Setter> supervise_keys = {
      {"restart", String(&config.supervise.restart,
                         [](const std::string& v) -> std::string {
                           return v == "always" || v == "on-failure" || v == "never"
                                      ? ""
                                      : "be one of always, on-failure, never";
                         })},
  };
  Setter state_dir_setter = Path(&config.state_dir);
  const std::map<std::string, Setter> top_keys = {
      {"state_dir",
       [&](const toml::node& node, const std::string& where, const std::string& key) -> Status {
         have_state_dir = true;
         return state_dir_setter(node, where, key);
       }},
      {"socket", Path(&config.socket)},
      {"control_group", String(&config.control_group,
                               [](const std::string& v) -> std::string {
                                 return !v.empty() && v.size() <= 64 &&
                                                v.find_first_of(" \t:/\n") == std::string::npos
                                            ? ""
                                            : "be a group name or a numeric gid";
                               })},
      {"server_url", String(&config.server_url, HttpUrl)},
      {"repository_url", String(&config.repository_url, HttpUrl)},
      {"device_token_file", Path(&config.device_token_file)},
      {"proxy",
       String(&config.proxy,
              [](const std::string& v) -> std::string {
                for (const char* scheme : {"http://", "https://", "socks5://", "socks5h://"}) {
                  if (v.empty() || v.rfind(scheme, 0) == 0) {
                    return "";
                  }
                }
                return "start with http://, https://, socks5:// or socks5h://, not '" + v + "'";
              })},
      {"ca_file", Path(&config.ca_file, /*allow_empty=*/true)},
      {"client_cert", Path(&config.client_cert, /*allow_empty=*/true)},
      {"client_key", Path(&config.client_key, /*allow_empty=*/true)},
      {"trusted_root", Path(&config.trusted_root)},
      {"poll_interval", Duration(&config.poll_interval, std::chrono::seconds(1))},
      {"log_level", String(&config.log_level,
                           [](const std::string& v) -> std::string {
                             for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
                               if (v == level) {
                                 return "";
                               }
                             }
                             return "be one of trace, debug, info, warn, error";
                           })},
  };
  const std::map<std::string, std::function<Status(const toml::table&)>> top_tables = {
      {"runtime",
       [&](const toml::table& t) { return ApplyTable(t, runtime_keys, {}, source, "runtime."); }},
      {"limits",
       [&](const toml::table& t) { return ApplyTable(t, limits_keys, {}, source, "limits."); }},
      {"supervise",
       [&](const toml::table& t) {
         return ApplyTable(t, supervise_keys, {}, source, "supervise.");
       }},
  };
  if (auto st = ApplyTable(root, top_keys, top_tables, source, ""); !st) {
    return Fail(st.error());
  }
  if (config.client_cert.empty() != config.client_key.empty()) {
    return Fail(Errc::kInvalidArgument,
                std::string(source) +
                    ": 'client_cert' and 'client_key' go together: set both or "
                    "neither");
  }
  if (config.repository_url.empty()) {
    config.repository_url = config.server_url;
  }
  while (!config.repository_url.empty() && config.repository_url.back() == '/') {
    config.repository_url.pop_back();
  }
  while (!config.server_url.empty() && config.server_url.back() == '/') {
    config.server_url.pop_back();
  }
  if (!have_state_dir) {
    return Fail(Errc::kInvalidArgument, std::string(source) + ": missing required key 'state_dir'");
  }
  return config;
}

Result<Config> LoadConfig(const std::filesystem::path& path) {
  auto text = fs::ReadFile(path, 1u << 20);
  if (!text) {
    return Fail(text.error().WithContext("reading configuration"));
  }
  return ParseConfig(*text, path.string());
}

}  // namespace ferry::config
