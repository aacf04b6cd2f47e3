#include "status.hpp"

#include <unistd.h>

namespace ferry::daemon {
namespace {

using Json = nlohmann::json;

Result<Json> RevisionSummary(store::StateStore& store, const std::optional<std::string>& id,
                             std::optional<store::WallTime> now = std::nullopt) {
  if (!id) {
    return Json(nullptr);
  }
  auto rev = store.GetRevision(*id);
  if (!rev) {
    // The app points at a revision the database no longer has: show it rather than hide it.
    return Json{{"revision", *id}, {"version", nullptr}, {"state", "missing"}};
  }
  Json out{{"revision", rev->id},
           {"version", rev->version},
           {"state", std::string(store::ToString(rev->state))}};
  if (now) {
    // Until then a crash loop or sustained unhealthiness still rolls it back.
    const bool in_probation = rev->probation_until && *rev->probation_until > *now;
    out["probation"] = in_probation;
    out["probation_until"] = in_probation ? Json(std::chrono::duration_cast<std::chrono::seconds>(
                                                     rev->probation_until->time_since_epoch())
                                                     .count())
                                          : Json(nullptr);
  }
  return out;
}

}  // namespace

Result<Json> BuildStatus(store::StateStore& store, const AgentInfo& agent) {
  auto apps = store.ListApps();
  if (!apps) {
    return Fail(apps.error().WithContext("listing apps"));
  }
  Json out_apps = Json::array();
  for (const auto& app : *apps) {
    auto current = RevisionSummary(store, app.current_revision, agent.now);
    auto previous = RevisionSummary(store, app.previous_revision);
    if (!current || !previous) {
      return Fail((current ? previous.error() : current.error()).WithContext("app " + app.name));
    }
    out_apps.push_back(Json{
        {"name", app.name}, {"current", *current}, {"previous", *previous}, {"update", nullptr}});
  }
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - agent.started);
  return Json{{"agent",
               {{"version", FERRY_VERSION},
                {"pid", static_cast<long>(::getpid())},
                {"state_dir", agent.config->state_dir.string()},
                {"server_url", agent.config->server_url},
                {"uptime_seconds", uptime.count()},
                {"recovering", agent.recovering},
                {"schema_version", store::LatestSchemaVersion()}}},
              {"apps", out_apps}};
}

void AddUpdates(Json& status, const std::map<std::string, report::Progress>& in_flight,
                Clock::TimePoint now) {
  for (const auto& [name, progress] : in_flight) {
    bool listed = false;
    for (const auto& app : status["apps"]) {
      listed = listed || app["name"] == name;
    }
    if (!listed) {  // a first install, still downloading
      status["apps"].push_back(Json{{"name", name}, {"current", nullptr}, {"previous", nullptr}});
    }
  }
  for (auto& app : status["apps"]) {
    auto it = in_flight.find(app["name"].get<std::string>());
    if (it == in_flight.end()) {
      continue;
    }
    // A download that stopped moving (the server died, a retry waits) has no speed, whatever
    // the last second before it measured.
    std::uint64_t speed = it->second.bytes_per_second;
    if (it->second.moved_at != Clock::TimePoint{} && now - it->second.moved_at >= kStalledAfter) {
      speed = 0;
    }
    app["update"] = Json{{"step", it->second.step},
                         {"revision", it->second.revision},
                         {"version", it->second.version},
                         {"bytes_done", it->second.bytes_done},
                         {"bytes_total", it->second.bytes_total},
                         {"bytes_per_second", speed}};
  }
}

void AddSupervision(Json& status, const std::map<std::string, Supervision>& supervised,
                    RestartPolicy policy) {
  for (auto& app : status["apps"]) {
    auto it = supervised.find(app["name"].get<std::string>());
    const Json s = SupervisionJson(it == supervised.end() ? nullptr : &it->second, policy);
    for (const auto& [key, value] : s.items()) {
      app[key] = value;
    }
  }
}

}  // namespace ferry::daemon
