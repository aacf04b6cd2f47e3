#include "app_config.hpp"

#include <algorithm>
#include <set>
#include <string_view>

#include "ferry/core/fs.hpp"
#include "ferry/manifest/health_check.hpp"

namespace ferry::publish {

namespace {

using nlohmann::json;

constexpr std::string_view kConfigKeys[] = {
    "entrypoint", "cmd",     "env",          "working_dir", "user",   "ports",
    "labels",     "volumes", "capabilities", "resources",   "health", "read_only_rootfs"};

bool IsDigits(std::string_view s) {
  return !s.empty() && s.size() < 11 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string> Strings(const json& v) {
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& s : v) {
      if (s.is_string()) {
        out.push_back(s.get<std::string>());
      }
    }
  }
  return out;
}

// Docker: "uid", "uid:gid"; a uid alone means gid 0 when there is no passwd lookup. Devices do no
// lookups, so names must be replaced by numbers in the app config.
Result<std::string> NumericUser(const std::string& user) {
  if (user.empty()) {
    return std::string("0:0");
  }
  const auto colon = user.find(':');
  const std::string uid = user.substr(0, colon);
  const std::string gid = colon == std::string::npos ? "0" : user.substr(colon + 1);
  if (!IsDigits(uid) || !IsDigits(gid)) {
    return Fail(Errc::kInvalidArgument, "image user '" + user +
                                            "' is not numeric uid[:gid]; set \"user\" in the "
                                            "app config");
  }
  return uid + ":" + gid;
}

std::string VolumeName(const std::string& path, std::set<std::string>& taken) {
  std::string name;
  for (char c : path) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (ok) {
      name += c;
    } else if (!name.empty() && name.back() != '-') {
      name += '-';
    }
  }
  while (!name.empty() && name.back() == '-') {
    name.pop_back();
  }
  if (name.empty() || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) {
    name = "v" + name;
  }
  name = name.substr(0, 56);
  std::string unique = name;
  for (int i = 2; taken.contains(unique); ++i) {
    unique = name + "-" + std::to_string(i);
  }
  taken.insert(unique);
  return unique;
}

// Docker's HEALTHCHECK as Ferry's exec health check (the health module's mapping, so what is
// published is exactly what ferryd will parse); NONE or no test means no check.
Result<json> Health(const json& hc) {
  const std::vector<std::string> test = Strings(hc.value("Test", json::array()));
  if (test.empty() || test[0] == "NONE") {
    return json();
  }
  auto check = manifest::HealthCheckFromImage(hc);
  if (!check) {
    return Fail(Errc::kInvalidArgument, "image Healthcheck: " + check.error().message());
  }
  return manifest::HealthCheckToJson(*check);
}

}  // namespace

Result<AppConfig> LoadAppConfig(const std::filesystem::path& path) {
  auto bytes = fs::ReadFile(path, 1u << 20);
  if (!bytes) {
    return Fail(bytes.error().WithContext("app config"));
  }
  json doc = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(Errc::kInvalidArgument, path.string() + ": not a JSON object");
  }
  AppConfig app;
  for (const auto& [key, value] : doc.items()) {
    if (key == "min_from_version") {
      if (!value.is_string()) {
        return Fail(Errc::kInvalidArgument, path.string() + ": min_from_version must be a string");
      }
      app.min_from_version = value.get<std::string>();
      continue;
    }
    if (std::find(std::begin(kConfigKeys), std::end(kConfigKeys), key) == std::end(kConfigKeys)) {
      return Fail(Errc::kInvalidArgument, path.string() + ": unknown key '" + key + "'");
    }
    app.overrides[key] = value;
  }
  return app;
}

Result<json> BuildRuntimeConfig(const json& image_config, const AppConfig& app) {
  json config = json::object();
  const json& ic = image_config.is_object() ? image_config : json::object();
  config["entrypoint"] = Strings(ic.value("Entrypoint", json()));
  config["cmd"] = Strings(ic.value("Cmd", json()));
  config["env"] = Strings(ic.value("Env", json()));
  const std::string wd = ic.value("WorkingDir", json("")).is_string()
                             ? ic.value("WorkingDir", std::string())
                             : std::string();
  config["working_dir"] = wd.empty() ? "/" : wd;
  const json user = ic.value("User", json(""));
  auto numeric = NumericUser(user.is_string() ? user.get<std::string>() : "");
  if (!numeric && !app.overrides.contains("user")) {
    return Fail(numeric.error());
  }
  config["user"] = numeric ? *numeric : "0:0";
  json ports = json::array();
  if (const json p = ic.value("ExposedPorts", json()); p.is_object()) {
    for (const auto& [spec, unused] : p.items()) {
      const std::string num = spec.substr(0, spec.find('/'));
      if (!IsDigits(num) || std::stoul(num) == 0 || std::stoul(num) > 65535) {
        return Fail(Errc::kInvalidArgument, "image ExposedPorts: bad port '" + spec + "'");
      }
      const auto port = std::stoul(num);
      if (std::find(ports.begin(), ports.end(), json(port)) == ports.end()) {
        ports.push_back(port);
      }
    }
  }
  config["ports"] = ports;
  json volumes = json::array();
  std::set<std::string> taken;
  if (const json v = ic.value("Volumes", json()); v.is_object()) {
    for (const auto& [path, unused] : v.items()) {
      volumes.push_back(
          json{{"name", VolumeName(path, taken)}, {"path", path}, {"read_only", false}});
    }
  }
  config["volumes"] = volumes;
  json labels = json::object();
  if (const json l = ic.value("Labels", json()); l.is_object()) {
    for (const auto& [k, v] : l.items()) {
      if (v.is_string()) {
        labels[k] = v;
      }
    }
  }
  config["labels"] = labels;
  if (const json hc = ic.value("Healthcheck", json()); hc.is_object()) {
    auto health = Health(hc);
    if (!health) {
      return Fail(health.error());
    }
    if (!health->is_null()) {
      config["health"] = *health;
    }
  }

  for (const auto& [key, value] : app.overrides.items()) {
    if (key == "env" && value.is_array()) {
      // KEY=value entries replace the image's value of KEY and keep the rest in order.
      json env = config["env"];
      for (const auto& e : value) {
        if (!e.is_string()) {
          return Fail(Errc::kInvalidArgument, "app config env: entries must be strings");
        }
        const std::string s = e.get<std::string>();
        const std::string k = s.substr(0, s.find('='));
        auto it = std::find_if(env.begin(), env.end(), [&](const json& x) {
          const std::string xs = x.get<std::string>();
          return xs.substr(0, xs.find('=')) == k;
        });
        if (it != env.end()) {
          *it = s;
        } else {
          env.push_back(s);
        }
      }
      config["env"] = env;
    } else if (key == "labels" && value.is_object()) {
      for (const auto& [k, v] : value.items()) {
        config["labels"][k] = v;
      }
    } else if (key == "health" && value.is_null()) {
      config.erase("health");
    } else {
      config[key] = value;
    }
  }
  // A check ferryd would refuse must fail here, at publish time, not on every device.
  if (config.contains("health") && !config["health"].is_null()) {
    if (auto check = manifest::ParseHealthCheck(config["health"]); !check) {
      return Fail(Errc::kInvalidArgument, "health: " + check.error().message());
    }
  }
  return config;
}

}  // namespace ferry::publish
