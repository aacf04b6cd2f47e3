#include "views.hpp"

#include "ferry/manifest/manifest.hpp"

namespace ferry::daemon {

using Json = nlohmann::json;

Result<std::string> AppParam(const Json& params) {
  if (!params.contains("app") || !params["app"].is_string() ||
      !manifest::IsValidName(params["app"].get<std::string>())) {
    return Fail(Errc::kInvalidArgument, "a valid \"app\" name is required");
  }
  return params["app"].get<std::string>();
}

std::int64_t Millis(store::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Result<Json> HistoryView(store::StateStore& store, const Json& params) {
  auto app = AppParam(params);
  if (!app) {
    return Fail(app.error());
  }
  if (auto rec = store.GetApp(*app); !rec) {
    return Fail(rec.error());
  }
  auto revs = store.ListRevisions(*app);
  if (!revs) {
    return Fail(revs.error());
  }
  Json out = Json::array();
  for (const auto& r : *revs) {
    Json steps = Json::array();
    if (auto list = store.ListSteps(r.id)) {
      for (const auto& s : *list) {
        Json step{{"step", s.step}, {"started_at", Millis(s.started_at)}};
        step["duration_ms"] =
            s.finished_at ? Json(Millis(*s.finished_at) - Millis(s.started_at)) : Json(nullptr);
        steps.push_back(step);
      }
    }
    out.push_back(Json{{"revision", r.id},
                       {"version", r.version},
                       {"state", std::string(store::ToString(r.state))},
                       {"bad", r.bad},
                       {"reason", r.reason},
                       {"retried", r.retried.empty() ? Json(nullptr) : Json(r.retried)},
                       {"manifest_digest", r.manifest_digest},
                       {"created_at", Millis(r.created_at)},
                       {"steps", steps}});
  }
  return Json{{"app", *app}, {"revisions", out}};
}

Result<Json> WhyView(store::StateStore& store, const Json& params) {
  auto app = AppParam(params);
  if (!app) {
    return Fail(app.error());
  }
  Json failure = nullptr;
  std::int64_t failure_at = 0;
  auto rec = store.GetApp(*app);
  if (!rec && !rec.error().Is(Errc::kNotFound)) {
    return Fail(rec.error());
  }
  if (rec) {
    auto revs = store.ListRevisions(*app);
    if (!revs) {
      return Fail(revs.error());
    }
    for (auto it = revs->rbegin(); it != revs->rend(); ++it) {
      if (it->bad || it->state == store::RevisionState::kFailed ||
          it->state == store::RevisionState::kRolledBack ||
          it->state == store::RevisionState::kInterrupted) {
        failure_at = Millis(it->updated_at);
        failure = Json{{"revision", it->id},
                       {"version", it->version},
                       {"state", std::string(store::ToString(it->state))},
                       {"bad", it->bad},
                       {"reason", it->reason},
                       {"retried", it->retried.empty() ? Json(nullptr) : Json(it->retried)},
                       {"at", failure_at}};
        break;
      }
    }
  }
  // A release that never became a revision (a blob failing its hash, a release the repository
  // does not list, no space) is on record only as its failed event.
  auto event = store.LastEvent(*app, "failed");
  if (!event) {
    return Fail(event.error());
  }
  if (*event) {
    const Json payload = Json::parse((*event)->payload, nullptr, false);
    const std::int64_t at = Millis((*event)->created_at);
    if (payload.is_object() && !payload.contains("revision") &&
        (failure.is_null() || at > failure_at)) {
      failure = Json{
          {"revision", nullptr}, {"version", payload.value("version", "")}, {"state", "failed"},
          {"bad", false},        {"reason", payload.value("reason", "")},   {"at", at}};
      if (payload.contains("deployment")) {
        failure["deployment"] = payload["deployment"];
      }
    }
  }
  if (!rec && failure.is_null()) {
    return Fail(rec.error());
  }
  return Json{{"app", *app}, {"failure", failure}};
}

}  // namespace ferry::daemon
