#include "ferry/fleetclient/messages.hpp"

#include <set>

#include "ferry/core/json_depth.hpp"
#include "ferry/manifest/semver.hpp"

namespace ferry::fleetclient {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxApps = 1024;

// Text from the server goes into error messages: keep it short and printable.
std::string Printable(std::string_view text, std::size_t max = 64) {
  std::string out;
  for (char c : text.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (text.size() > max) {
    out += "...";
  }
  return out;
}

std::string Quote(std::string_view text) { return "\"" + Printable(text) + "\""; }

bool Alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool ValidId(std::string_view id, std::size_t max) {
  if (id.empty() || id.size() > max) {
    return false;
  }
  for (char c : id) {
    if (!Alnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return false;
    }
  }
  return true;
}

bool ValidAppName(std::string_view app) {
  if (app.empty() || app.size() > 64) {
    return false;
  }
  for (char c : app) {
    const bool lower_or_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!lower_or_digit && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  const char first = app.front();
  return first != '.' && first != '_' && first != '-';
}

// A required string member of `object`.
Result<std::string> StringField(const json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) {
    return Fail(FleetClientErrc::kMalformed, where + key + ": missing");
  }
  if (!it->is_string()) {
    return Fail(FleetClientErrc::kMalformed, where + key + ": not a string");
  }
  return it->get<std::string>();
}

Result<AssignedApp> ParseApp(const json& item, const std::string& where) {
  if (!item.is_object()) {
    return Fail(FleetClientErrc::kMalformed, where.substr(0, where.size() - 1) + ": not an object");
  }
  AssignedApp app;
  auto name = StringField(item, "app", where);
  if (!name) {
    return Fail(name.error());
  }
  if (!ValidAppName(*name)) {
    return Fail(FleetClientErrc::kMalformed, where + "app: bad app name " + Quote(*name));
  }
  app.app = std::move(*name);
  auto version = StringField(item, "version", where);
  if (!version) {
    return Fail(version.error());
  }
  if (version->size() > 128) {
    return Fail(FleetClientErrc::kMalformed, where + "version: longer than 128 characters");
  }
  if (auto v = manifest::ParseSemVer(*version); !v) {
    return Fail(FleetClientErrc::kMalformed,
                where + "version: " + Quote(*version) + " is not semver: " + v.error().message());
  }
  app.version = std::move(*version);
  auto deployment = StringField(item, "deployment", where);
  if (!deployment) {
    return Fail(deployment.error());
  }
  if (!ValidId(*deployment, 64)) {
    return Fail(FleetClientErrc::kMalformed,
                where + "deployment: bad deployment id " + Quote(*deployment));
  }
  app.deployment = std::move(*deployment);
  if (const auto it = item.find("downgrade"); it != item.end()) {
    if (!it->is_boolean()) {
      return Fail(FleetClientErrc::kMalformed, where + "downgrade: not true or false");
    }
    app.downgrade = it->get<bool>();
  }
  if (const auto it = item.find("retry_bad"); it != item.end()) {
    if (!it->is_boolean()) {
      return Fail(FleetClientErrc::kMalformed, where + "retry_bad: not true or false");
    }
    app.retry_bad = it->get<bool>();
  }
  return app;
}

}  // namespace

Result<json> ParseReplyJson(std::string_view body) {
  // The transfer has bounded the size already (a reply over the limit never gets here).
  auto value = ParseBoundedJson(body, JsonBounds{body.size(), kMaxReplyDepth});
  if (!value) {
    return Fail(FleetClientErrc::kMalformed,
                JsonNestingWithin(body, kMaxReplyDepth)
                    ? "not JSON"
                    : "JSON nested deeper than " + std::to_string(kMaxReplyDepth) + " levels");
  }
  return value;
}

Result<Assignment> ParseAssignment(std::string_view body) {
  auto parsed = ParseReplyJson(body);
  if (!parsed) {
    return Fail(std::move(parsed.error()).WithContext("assignment"));
  }
  const json& root = *parsed;
  if (!root.is_object()) {
    return Fail(FleetClientErrc::kMalformed, "assignment: not a JSON object");
  }
  Assignment out;
  auto device = StringField(root, "device", "assignment: ");
  if (!device) {
    return Fail(device.error());
  }
  if (!ValidId(*device, 128)) {
    return Fail(FleetClientErrc::kMalformed, "assignment: device: bad device id " + Quote(*device));
  }
  out.device = std::move(*device);
  const auto apps = root.find("apps");
  if (apps == root.end() || !apps->is_array()) {
    return Fail(FleetClientErrc::kMalformed, "assignment: apps: missing or not an array");
  }
  if (apps->size() > kMaxApps) {
    return Fail(FleetClientErrc::kMalformed,
                "assignment: apps: more than " + std::to_string(kMaxApps) + " entries");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < apps->size(); ++i) {
    const std::string where = "assignment: apps[" + std::to_string(i) + "].";
    auto app = ParseApp((*apps)[i], where);
    if (!app) {
      return Fail(app.error());
    }
    if (!seen.insert(app->app).second) {
      return Fail(FleetClientErrc::kMalformed, where + "app: " + Quote(app->app) + " listed twice");
    }
    out.apps.push_back(std::move(*app));
  }
  return out;
}

std::string EventsBody(const std::vector<DeviceEvent>& events) {
  json list = json::array();
  for (const DeviceEvent& e : events) {
    json item = {{"sequence", e.sequence}, {"kind", e.kind}, {"app", e.app}};
    const auto optional = [&](const char* key, const std::string& value) {
      if (!value.empty()) {
        item[key] = value;
      }
    };
    optional("version", e.version);
    optional("deployment", e.deployment);
    optional("reason", e.reason);
    if (e.time != 0) {
      item["time"] = e.time;
    }
    list.push_back(std::move(item));
  }
  // Replacement characters instead of an exception if ferryd ever passes invalid UTF-8 (a reason
  // copied from a container's output).
  return list.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::int64_t> ParseEventsReply(std::string_view body) {
  auto parsed = ParseReplyJson(body);
  if (!parsed) {
    return Fail(std::move(parsed.error()).WithContext("events reply"));
  }
  if (!parsed->is_object()) {
    return Fail(FleetClientErrc::kMalformed, "events reply: not a JSON object");
  }
  const auto it = parsed->find("highest_sequence");
  if (it == parsed->end() || !it->is_number_integer()) {
    return Fail(FleetClientErrc::kMalformed,
                "events reply: highest_sequence: missing or not an integer");
  }
  // An unsigned value past INT64_MAX must not wrap into a plausible sequence.
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) {
    return Fail(FleetClientErrc::kMalformed, "events reply: highest_sequence: out of range");
  }
  const auto highest = it->get<std::int64_t>();
  if (highest < 0) {
    return Fail(FleetClientErrc::kMalformed, "events reply: highest_sequence: negative");
  }
  return highest;
}

Status ParseInventoryReply(std::string_view body) {
  auto parsed = ParseReplyJson(body);
  if (!parsed) {
    return Fail(std::move(parsed.error()).WithContext("inventory reply"));
  }
  if (!parsed->is_object()) {
    return Fail(FleetClientErrc::kMalformed, "inventory reply: not a JSON object");
  }
  const auto it = parsed->find("stored");
  if (it == parsed->end() || !it->is_boolean() || !it->get<bool>()) {
    return Fail(FleetClientErrc::kMalformed, "inventory reply: stored: missing or not true");
  }
  return Ok();
}

std::string ServerErrorText(std::string_view body) {
  auto parsed = ParseReplyJson(body);
  if (!parsed || !parsed->is_object()) {
    return "";
  }
  const auto it = parsed->find("error");
  if (it == parsed->end() || !it->is_string()) {
    return "";
  }
  return Printable(it->get_ref<const std::string&>(), 300);
}

bool ValidEtag(std::string_view etag) {
  if (etag.empty() || etag.size() > 256) {
    return false;
  }
  for (char c : etag) {
    if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

}  // namespace ferry::fleetclient
