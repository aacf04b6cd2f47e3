#include "ferry/fleet/api.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "ferry/core/json_depth.hpp"
#include "ferry/core/log.hpp"
#include "ferry/fleet/error.hpp"
#include "ferry/httpd/server.hpp"
#include "ferry/httpd/target_path.hpp"
#include "fleet_impl.hpp"

namespace ferry::fleet {
namespace {

using json = nlohmann::json;
namespace http = httpd::http;
using httpd::Request;
using httpd::Response;

constexpr std::size_t kSmallBody = 16 * 1024;
constexpr int kMaxJsonDepth = 32;

struct Api {
  Api(std::shared_ptr<Fleet> f, Clock& clock, ApiOptions o)
      : fleet(std::move(f)), limiter(clock), options(std::move(o)) {}
  std::shared_ptr<Fleet> fleet;
  RateLimiter limiter;
  ApiOptions options;
};

Response JsonResponse(http::status status, const json& body) {
  return Response::Json(status, body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

Response ErrorResponse(http::status status, std::string_view message) {
  Response r = JsonResponse(status, json{{"error", message}});
  if (status == http::status::unauthorized) {
    r.headers.set(http::field::www_authenticate, "Bearer realm=\"ferry-fleet\"");
  }
  return r;
}

Response FromError(const Error& error) {
  http::status status = http::status::internal_server_error;
  if (error.code().category() == FleetCategory()) {
    switch (static_cast<FleetErrc>(error.code().value())) {
      case FleetErrc::kBadRequest:
        status = http::status::bad_request;
        break;
      case FleetErrc::kUnauthorized:
        status = http::status::unauthorized;
        break;
      case FleetErrc::kForbidden:
        status = http::status::forbidden;
        break;
      case FleetErrc::kNotFound:
        status = http::status::not_found;
        break;
      case FleetErrc::kConflict:
        status = http::status::conflict;
        break;
      default:
        break;
    }
  }
  if (status == http::status::internal_server_error) {
    log::error("fleet: {}", error.String());
    return ErrorResponse(status, "internal error");
  }
  return ErrorResponse(status, error.message());
}

Response TooMany(std::chrono::seconds retry_after) {
  Response r = ErrorResponse(http::status::too_many_requests, "too many requests");
  r.headers.set(http::field::retry_after, std::to_string(retry_after.count()));
  return r;
}

Result<json> ParseBody(const Request& request) {
  const std::string& body = request.message.body();
  // The route's body limit has bounded the size already; the depth is checked here, before
  // the parser runs.
  auto parsed = ParseBoundedJson(body, JsonBounds{body.size(), kMaxJsonDepth});
  if (!parsed) {
    return Fail(FleetErrc::kBadRequest, JsonNestingWithin(body, kMaxJsonDepth)
                                            ? "the body is not JSON"
                                            : "JSON nested too deeply");
  }
  return parsed;
}

std::string_view BearerToken(const Request& request) {
  const std::string_view value = request.message[http::field::authorization];
  constexpr std::string_view kPrefix = "Bearer ";
  if (value.size() <= kPrefix.size() || value.substr(0, kPrefix.size()) != kPrefix) {
    return {};
  }
  return value.substr(kPrefix.size());
}

bool IsOperatorToken(const Api& api, std::string_view token) {
  const std::string& expected = api.options.operator_token;
  return token.size() == expected.size() &&
         CRYPTO_memcmp(token.data(), expected.data(), expected.size()) == 0;
}

std::string PeerKey(const Request& request) {
  return "peer:" + request.remote.address().to_string();
}

// A peer that has spent its failed-authentication budget gets 429 and loses the connection,
// whatever token it sends, before any token is compared: guessing on, even pipelined on one
// connection, learns nothing until the budget refills.
std::optional<Response> LockedOut(Api& api, const Request& request) {
  const auto wait = api.limiter.Wait(PeerKey(request), api.options.unauthenticated_limit);
  if (wait.count() == 0) {
    return std::nullopt;
  }
  Response r = TooMany(wait);
  r.close = true;
  return r;
}

// 401 for a failed token (spending one of the peer's failed attempts), or 429 and a closed
// connection once the peer has failed too often.
Response Unauthorized(Api& api, const Request& request, std::string_view why) {
  const auto wait = api.limiter.Take(PeerKey(request), api.options.unauthenticated_limit);
  if (wait.count() > 0) {
    Response r = TooMany(wait);
    r.close = true;
    return r;
  }
  return ErrorResponse(http::status::unauthorized, why);
}

using DeviceHandler = std::function<Response(Api&, const Request&, const std::string& device)>;
using OperatorHandler = std::function<Response(Api&, const Request&)>;

httpd::Handler ForDevice(std::shared_ptr<Api> api, DeviceHandler inner) {
  return [api = std::move(api), inner = std::move(inner)](const Request& request) {
    if (auto refusal = LockedOut(*api, request)) {
      return std::move(*refusal);
    }
    const std::string_view token = BearerToken(request);
    if (token.empty()) {
      return Unauthorized(*api, request, "a device token is required (Authorization: Bearer)");
    }
    auto device = api->fleet->AuthenticateDevice(token);
    if (!device) {
      if (!device.error().Is(FleetErrc::kUnauthorized)) {
        return FromError(device.error());
      }
      if (IsOperatorToken(*api, token)) {
        return ErrorResponse(http::status::forbidden, "the operator token has no device data");
      }
      return Unauthorized(*api, request, device.error().message());
    }
    const auto wait = api->limiter.Take("device:" + *device, api->options.device_limit);
    if (wait.count() > 0) {
      return TooMany(wait);
    }
    return inner(*api, request, *device);
  };
}

httpd::Handler ForOperator(std::shared_ptr<Api> api, OperatorHandler inner) {
  return [api = std::move(api), inner = std::move(inner)](const Request& request) {
    if (auto refusal = LockedOut(*api, request)) {
      return std::move(*refusal);
    }
    const std::string_view token = BearerToken(request);
    if (token.empty()) {
      return Unauthorized(*api, request, "the operator token is required (Authorization: Bearer)");
    }
    if (!IsOperatorToken(*api, token)) {
      if (api->fleet->AuthenticateDevice(token)) {
        return ErrorResponse(http::status::forbidden, "a device token cannot use the operator API");
      }
      return Unauthorized(*api, request, "unknown or revoked token");
    }
    const auto wait = api->limiter.Take("operator", api->options.operator_limit);
    if (wait.count() > 0) {
      return TooMany(wait);
    }
    return inner(*api, request);
  };
}

// The value of `name` in a raw query string, percent-decoded; nullopt when absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      auto value = httpd::PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      return value ? std::optional<std::string>(std::move(*value)) : std::nullopt;
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

json DeviceJson(const Device& d) {
  json out = {{"id", d.id},
              {"tags", d.tags},
              {"created_at", d.created_at},
              {"revoked", d.revoked_at.has_value()}};
  out["revoked_at"] = d.revoked_at ? json(*d.revoked_at) : json(nullptr);
  out["last_seen_at"] = d.last_seen_at ? json(*d.last_seen_at) : json(nullptr);
  out["inventory_at"] = d.inventory_at ? json(*d.inventory_at) : json(nullptr);
  return out;
}

json AssignmentJson(const std::vector<AppAssignment>& apps) {
  json list = json::array();
  for (const auto& a : apps) {
    json entry = {{"app", a.app},
                  {"version", a.version},
                  {"deployment", a.deployment},
                  {"downgrade", a.downgrade}};
    if (a.retry_bad) {  // only when asked: the assignment of every other deployment is unchanged
      entry["retry_bad"] = true;
    }
    list.push_back(std::move(entry));
  }
  return list;
}

json EventJson(const Event& e) {
  json out = {{"sequence", e.sequence},
              {"kind", e.kind},
              {"app", e.app},
              {"version", e.version},
              {"deployment", e.deployment},
              {"reason", e.reason},
              {"received_at", e.received_at}};
  out["time"] = e.device_time ? json(*e.device_time) : json(nullptr);
  return out;
}

json DeploymentJson(const Deployment& d) {
  json failures = json::array();
  for (const auto& f : d.failures) {
    failures.push_back({{"device", f.device}, {"state", f.state}, {"reason", f.reason}});
  }
  json out = {{"id", d.id},
              {"app", d.app},
              {"version", d.version},
              {"downgrade", d.downgrade},
              {"retry_bad", d.retry_bad},
              {"state", d.state},
              {"phases", d.phases},
              {"current_phase", d.current_phase},
              {"max_failure_ratio", d.max_failure_ratio},
              {"targets", {{"devices", d.target_devices}, {"tags", d.target_tags}}},
              {"reverts", d.reverts},
              {"pause_reason", d.pause_reason},
              {"created_at", d.created_at},
              {"phase_started_at", d.phase_started_at},
              {"targeted", d.targeted},
              {"released", d.released},
              {"counts", d.counts},
              {"failures", std::move(failures)}};
  out["phase_wait_seconds"] = d.phase_wait ? json(*d.phase_wait) : json(nullptr);
  return out;
}

// Reads an optional array of strings; kBadRequest naming the field otherwise.
Result<std::vector<std::string>> StringList(const json& body, const char* field) {
  std::vector<std::string> out;
  if (!body.contains(field)) {
    return out;
  }
  const json& v = body[field];
  if (!v.is_array()) {
    return Fail(FleetErrc::kBadRequest, std::string(field) + " must be an array of strings");
  }
  for (const json& item : v) {
    if (!item.is_string()) {
      return Fail(FleetErrc::kBadRequest, std::string(field) + " must be an array of strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Phases, phase wait and failure ratio, shared by create and revert.
Status RolloutFields(const json& body, std::vector<int>& phases,
                     std::optional<std::chrono::seconds>& wait, double& ratio) {
  if (body.contains("phases")) {
    const json& p = body["phases"];
    if (!p.is_array()) {
      return Fail(FleetErrc::kBadRequest, "phases must be an array of integers");
    }
    phases.clear();
    for (const json& item : p) {
      if (!item.is_number_integer() || item.get<std::int64_t>() < 0 ||
          item.get<std::int64_t>() > 100) {
        return Fail(FleetErrc::kBadRequest, "phases must be integers from 1 to 100");
      }
      phases.push_back(item.get<int>());
    }
  }
  if (body.contains("phase_wait_seconds") && !body["phase_wait_seconds"].is_null()) {
    const json& w = body["phase_wait_seconds"];
    if (!w.is_number_integer() || w.get<std::int64_t>() < 0) {
      return Fail(FleetErrc::kBadRequest, "phase_wait_seconds must be a non-negative integer");
    }
    wait = std::chrono::seconds(w.get<std::int64_t>());
  }
  if (body.contains("max_failure_ratio")) {
    const json& r = body["max_failure_ratio"];
    if (!r.is_number()) {
      return Fail(FleetErrc::kBadRequest, "max_failure_ratio must be a number");
    }
    ratio = r.get<double>();
  }
  return Ok();
}

// ---- device routes ----

bool ETagMatches(std::string_view header, std::string_view etag) {
  // If-None-Match: a list of (possibly weak) tags, or "*"; weak comparison.
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && item.front() == ' ') {
      item.remove_prefix(1);
    }
    while (!item.empty() && item.back() == ' ') {
      item.remove_suffix(1);
    }
    if (item.starts_with("W/")) {
      item.remove_prefix(2);
    }
    if (item == "*" || item == etag) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    header.remove_prefix(comma + 1);
  }
  return false;
}

Response GetAssignment(Api& api, const Request& request, const std::string& device) {
  auto apps = api.fleet->Assignment(device);
  if (!apps) {
    return FromError(apps.error());
  }
  const json body = {{"device", device}, {"apps", AssignmentJson(*apps)}};
  const std::string text = body.dump() + "\n";
  const std::string etag = "\"" + Sha256Hex(text).substr(0, 32) + "\"";
  Response r;
  if (ETagMatches(request.message[http::field::if_none_match], etag)) {
    r.status = http::status::not_modified;
  } else {
    r = Response::Json(http::status::ok, text);
  }
  r.headers.set(http::field::etag, etag);
  r.headers.set(http::field::cache_control, "private, no-cache");
  return r;
}

Result<Event> ParseEvent(const json& item) {
  if (!item.is_object()) {
    return Fail(FleetErrc::kBadRequest, "each event is an object");
  }
  Event e;
  const auto str = [&](const char* field, std::string& out, bool required) -> Status {
    if (!item.contains(field)) {
      return required ? Status(Fail(FleetErrc::kBadRequest, std::string("event without ") + field))
                      : Ok();
    }
    if (!item[field].is_string()) {
      return Fail(FleetErrc::kBadRequest, std::string("event ") + field + " must be a string");
    }
    out = item[field].get<std::string>();
    return Ok();
  };
  if (!item.contains("sequence") || !item["sequence"].is_number_integer()) {
    return Fail(FleetErrc::kBadRequest, "event without an integer sequence");
  }
  e.sequence = item["sequence"].get<std::int64_t>();
  FERRY_TRY_STATUS(str("kind", e.kind, true), "events");
  FERRY_TRY_STATUS(str("app", e.app, true), "events");
  FERRY_TRY_STATUS(str("version", e.version, false), "events");
  FERRY_TRY_STATUS(str("deployment", e.deployment, false), "events");
  FERRY_TRY_STATUS(str("reason", e.reason, false), "events");
  if (item.contains("time") && !item["time"].is_null()) {
    if (!item["time"].is_number_integer()) {
      return Fail(FleetErrc::kBadRequest, "event time must be unix seconds");
    }
    e.device_time = item["time"].get<std::int64_t>();
  }
  return e;
}

Response PostEvents(Api& api, const Request& request, const std::string& device) {
  auto body = ParseBody(request);
  if (!body) {
    return FromError(body.error());
  }
  const json* list = &*body;
  if (body->is_object() && body->contains("events")) {
    list = &(*body)["events"];
  }
  if (!list->is_array()) {
    return ErrorResponse(http::status::bad_request, "expected an array of events");
  }
  if (list->size() > api.options.events_per_batch) {
    return ErrorResponse(
        http::status::payload_too_large,
        "at most " + std::to_string(api.options.events_per_batch) + " events per batch");
  }
  if (!list->empty()) {
    // Events cost one token each (a batch larger than the burst costs the burst), on top of the
    // device's request budget: a device may not write its history faster than this.
    const double cost = std::min(static_cast<double>(list->size()),
                                 std::max(1.0, api.options.device_event_limit.burst));
    const auto wait = api.limiter.Take("events:" + device, api.options.device_event_limit, cost);
    if (wait.count() > 0) {
      return TooMany(wait);
    }
  }
  std::vector<Event> events;
  events.reserve(list->size());
  for (const json& item : *list) {
    auto e = ParseEvent(item);
    if (!e) {
      return FromError(e.error());
    }
    events.push_back(std::move(*e));
  }
  auto ack = api.fleet->RecordEvents(device, std::move(events));
  if (!ack) {
    return FromError(ack.error());
  }
  return JsonResponse(http::status::ok, {{"stored", ack->stored},
                                         {"duplicates", ack->duplicates},
                                         {"highest_sequence", ack->highest_sequence}});
}

Status ValidateInventory(const json& inv) {
  if (!inv.is_object()) {
    return Fail(FleetErrc::kBadRequest, "the inventory is a JSON object");
  }
  if (inv.contains("apps") && !inv["apps"].is_array()) {
    return Fail(FleetErrc::kBadRequest, "inventory apps must be an array");
  }
  if (inv.contains("apps")) {
    for (const json& app : inv["apps"]) {
      if (!app.is_object() || !app.contains("app") || !app["app"].is_string()) {
        return Fail(FleetErrc::kBadRequest, "each inventory app is an object with an \"app\"");
      }
    }
  }
  if (inv.contains("agent_version") && !inv["agent_version"].is_string()) {
    return Fail(FleetErrc::kBadRequest, "agent_version must be a string");
  }
  if (inv.contains("free_bytes") && !inv["free_bytes"].is_number_unsigned()) {
    return Fail(FleetErrc::kBadRequest, "free_bytes must be a non-negative integer");
  }
  return Ok();
}

Response PutInventory(Api& api, const Request& request, const std::string& device) {
  auto body = ParseBody(request);
  if (!body) {
    return FromError(body.error());
  }
  if (auto st = ValidateInventory(*body); !st) {
    return FromError(st.error());
  }
  if (auto st = api.fleet->PutInventory(device, body->dump()); !st) {
    return FromError(st.error());
  }
  return JsonResponse(http::status::ok, {{"stored", true}});
}

// ---- operator routes ----

Response Devices(Api& api, const Request& request) {
  if (request.message.method() == http::verb::get) {
    const auto tag = QueryParam(request.query, "tag");
    auto devices =
        api.fleet->ListDevices(tag ? std::optional<std::string_view>(*tag) : std::nullopt);
    if (!devices) {
      return FromError(devices.error());
    }
    json list = json::array();
    for (const auto& d : *devices) {
      list.push_back(DeviceJson(d));
    }
    return JsonResponse(http::status::ok, {{"devices", std::move(list)}});
  }
  auto body = ParseBody(request);
  if (!body) {
    return FromError(body.error());
  }
  if (!body->is_object() || !body->contains("id") || !(*body)["id"].is_string()) {
    return ErrorResponse(http::status::bad_request, "expected {\"id\": \"...\", \"tags\": [...]}");
  }
  auto tags = StringList(*body, "tags");
  if (!tags) {
    return FromError(tags.error());
  }
  auto added = api.fleet->AddDevice((*body)["id"].get<std::string>(), *tags);
  if (!added) {
    return FromError(added.error());
  }
  log::info("fleet: device {} added", added->device.id);
  return JsonResponse(http::status::created,
                      {{"device", DeviceJson(added->device)}, {"token", added->token}});
}

Response ShowDevice(Api& api, const Request& request) {
  const std::string id(request.Param("id"));
  auto device = api.fleet->GetDevice(id);
  if (!device) {
    return FromError(device.error());
  }
  auto apps = api.fleet->Assignment(id);
  if (!apps) {
    return FromError(apps.error());
  }
  auto events = api.fleet->DeviceEvents(id, 20);
  if (!events) {
    return FromError(events.error());
  }
  auto retention = api.fleet->DeviceEventRetention(id);
  if (!retention) {
    return FromError(retention.error());
  }
  json out = DeviceJson(*device);
  // Stored by the server after a bounded parse of the device's request.
  out["inventory"] =
      device->inventory ? json::parse(*device->inventory, nullptr, false) : json(nullptr);
  out["event_retention"] = {{"kept_events", retention->kept_events},
                            {"kept_bytes", retention->kept_bytes},
                            {"compacted_through", retention->compacted_through},
                            {"compacted_events", retention->compacted_events},
                            {"compacted_by_kind", retention->compacted_by_kind}};
  json recent = json::array();
  for (const auto& e : *events) {
    recent.push_back(EventJson(e));
  }
  return JsonResponse(http::status::ok, {{"device", std::move(out)},
                                         {"assignment", AssignmentJson(*apps)},
                                         {"events", std::move(recent)}});
}

Response DeviceAction(Api& api, const Request& request) {
  const std::string id(request.Param("id"));
  const std::string_view action = request.Param("action");
  Result<Device> device = Fail(FleetErrc::kNotFound, "no such action");
  if (action == "revoke") {
    device = api.fleet->RevokeDevice(id);
    if (device) {
      log::info("fleet: device {} revoked", id);
    }
  } else if (action == "tags") {
    auto body = ParseBody(request);
    if (!body) {
      return FromError(body.error());
    }
    if (!body->is_object()) {
      return ErrorResponse(http::status::bad_request,
                           "expected {\"add\": [...], \"remove\": [...]}");
    }
    auto add = StringList(*body, "add");
    auto remove = StringList(*body, "remove");
    if (!add || !remove) {
      return FromError(!add ? add.error() : remove.error());
    }
    device = api.fleet->TagDevice(id, *add, *remove);
  }
  if (!device) {
    return FromError(device.error());
  }
  return JsonResponse(http::status::ok, {{"device", DeviceJson(*device)}});
}

Response Deployments(Api& api, const Request& request) {
  if (request.message.method() == http::verb::get) {
    auto list = api.fleet->ListDeployments();
    if (!list) {
      return FromError(list.error());
    }
    json out = json::array();
    for (const auto& d : *list) {
      out.push_back(DeploymentJson(d));
    }
    return JsonResponse(http::status::ok, {{"deployments", std::move(out)}});
  }
  auto body = ParseBody(request);
  if (!body) {
    return FromError(body.error());
  }
  if (!body->is_object() || !body->contains("app") || !(*body)["app"].is_string() ||
      !body->contains("version") || !(*body)["version"].is_string()) {
    return ErrorResponse(http::status::bad_request,
                         "expected {\"app\": ..., \"version\": ..., \"devices\"/\"tags\": [...]}");
  }
  DeploymentSpec spec;
  spec.app = (*body)["app"].get<std::string>();
  spec.version = (*body)["version"].get<std::string>();
  auto devices = StringList(*body, "devices");
  auto tags = StringList(*body, "tags");
  if (!devices || !tags) {
    return FromError(!devices ? devices.error() : tags.error());
  }
  spec.devices = std::move(*devices);
  spec.tags = std::move(*tags);
  if (auto st = RolloutFields(*body, spec.phases, spec.phase_wait, spec.max_failure_ratio); !st) {
    return FromError(st.error());
  }
  if (body->contains("downgrade")) {
    if (!(*body)["downgrade"].is_boolean()) {
      return ErrorResponse(http::status::bad_request, "downgrade must be true or false");
    }
    spec.downgrade = (*body)["downgrade"].get<bool>();
  }
  if (body->contains("retry_bad")) {
    if (!(*body)["retry_bad"].is_boolean()) {
      return ErrorResponse(http::status::bad_request, "retry_bad must be true or false");
    }
    spec.retry_bad = (*body)["retry_bad"].get<bool>();
  }
  auto created = api.fleet->CreateDeployment(spec);
  if (!created) {
    return FromError(created.error());
  }
  log::info("fleet: deployment {} of {} {} to {} device(s)", created->id, created->app,
            created->version, created->targeted);
  return JsonResponse(http::status::created, {{"deployment", DeploymentJson(*created)}});
}

Response ShowDeployment(Api& api, const Request& request) {
  (void)api.fleet->Reconcile();
  auto d = api.fleet->GetDeployment(request.Param("id"));
  if (!d) {
    return FromError(d.error());
  }
  return JsonResponse(http::status::ok, {{"deployment", DeploymentJson(*d)}});
}

Response DeploymentAction(Api& api, const Request& request) {
  const std::string id(request.Param("id"));
  const std::string_view action = request.Param("action");
  json body = json::object();
  if (!request.message.body().empty()) {
    auto parsed = ParseBody(request);
    if (!parsed) {
      return FromError(parsed.error());
    }
    if (!parsed->is_object()) {
      return ErrorResponse(http::status::bad_request, "the body is a JSON object");
    }
    body = std::move(*parsed);
  }
  Result<Deployment> d = Fail(FleetErrc::kNotFound, "no action " + Quote(action));
  http::status ok = http::status::ok;
  if (action == "pause") {
    std::string reason;
    if (body.contains("reason") && body["reason"].is_string()) {
      reason = body["reason"].get<std::string>().substr(0, 1024);
    }
    d = api.fleet->Pause(id, reason);
  } else if (action == "resume") {
    d = api.fleet->Resume(id);
  } else if (action == "abort") {
    d = api.fleet->Abort(id);
  } else if (action == "promote") {
    d = api.fleet->Promote(id);
  } else if (action == "revert") {
    std::optional<std::string> version;
    if (body.contains("version")) {
      if (!body["version"].is_string()) {
        return ErrorResponse(http::status::bad_request, "version must be a string");
      }
      version = body["version"].get<std::string>();
    }
    std::vector<int> phases{100};
    std::optional<std::chrono::seconds> wait;
    double ratio = 0.1;
    if (auto st = RolloutFields(body, phases, wait, ratio); !st) {
      return FromError(st.error());
    }
    d = api.fleet->Revert(id, version, phases, wait, ratio);
    ok = http::status::created;
  }
  if (!d) {
    return FromError(d.error());
  }
  log::info("fleet: {} {}: now {}", action, id, d->state);
  return JsonResponse(ok, {{"deployment", DeploymentJson(*d)}});
}

}  // namespace

Status CheckOperatorToken(std::string_view token) {
  const bool hex = std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
  const std::size_t bits = token.size() * (hex ? 4 : 6);
  const std::set<char> distinct(token.begin(), token.end());
  if (bits >= 128 && distinct.size() >= 8) {
    return Ok();
  }
  return Fail(Errc::kInvalidArgument,
              "the operator token is too weak (" + std::to_string(token.size()) + " characters, " +
                  std::to_string(distinct.size()) +
                  " distinct; at least 128 bits are needed: 32 hex digits or 22 other "
                  "characters); make one with `openssl rand -hex 32`");
}

Status AddFleetRoutes(httpd::Router& router, std::shared_ptr<Fleet> fleet, Clock& clock,
                      ApiOptions options) {
  if (options.operator_token.empty()) {
    return Fail(FleetErrc::kBadRequest, "the operator token is empty");
  }
  const ApiOptions o = options;
  auto api = std::make_shared<Api>(std::move(fleet), clock, std::move(options));
  using V = http::verb;
  constexpr std::size_t kNoBody = 0;
  FERRY_TRY_STATUS(
      router.Add({V::get}, "/v1/device/assignment", ForDevice(api, GetAssignment), kNoBody),
      "adding fleet routes");
  FERRY_TRY_STATUS(
      router.Add({V::post}, "/v1/device/events", ForDevice(api, PostEvents), o.events_body_limit),
      "adding fleet routes");
  FERRY_TRY_STATUS(router.Add({V::put}, "/v1/device/inventory", ForDevice(api, PutInventory),
                              o.inventory_body_limit),
                   "adding fleet routes");
  FERRY_TRY_STATUS(
      router.Add({V::get, V::post}, "/v1/devices", ForOperator(api, Devices), kSmallBody),
      "adding fleet routes");
  FERRY_TRY_STATUS(router.Add({V::get}, "/v1/devices/{id}", ForOperator(api, ShowDevice), kNoBody),
                   "adding fleet routes");
  FERRY_TRY_STATUS(router.Add({V::post}, "/v1/devices/{id}/{action}",
                              ForOperator(api, DeviceAction), kSmallBody),
                   "adding fleet routes");
  FERRY_TRY_STATUS(router.Add({V::get, V::post}, "/v1/deployments", ForOperator(api, Deployments),
                              o.operator_body_limit),
                   "adding fleet routes");
  FERRY_TRY_STATUS(
      router.Add({V::get}, "/v1/deployments/{id}", ForOperator(api, ShowDeployment), kNoBody),
      "adding fleet routes");
  FERRY_TRY_STATUS(router.Add({V::post}, "/v1/deployments/{id}/{action}",
                              ForOperator(api, DeploymentAction), kSmallBody),
                   "adding fleet routes");
  return Ok();
}

}  // namespace ferry::fleet
