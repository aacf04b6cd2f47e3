#include "requests.hpp"

#include "ferry/core/log.hpp"
#include "ferry/manifest/semver.hpp"
#include "views.hpp"

namespace ferry::daemon {
namespace {

using Json = nlohmann::json;

Json ResultJson(const engine::InstallResult& r) {
  return Json{{"outcome", std::string(engine::OutcomeName(r.outcome))},
              {"revision", r.revision},
              {"reason", r.reason}};
}

Status CheckVersionParam(const Json& params) {
  if (!params.contains("version") || !params["version"].is_string() ||
      !manifest::ParseSemVer(params["version"].get<std::string>())) {
    return Fail(Errc::kInvalidArgument, "a valid \"version\" (semver) is required");
  }
  return Ok();
}

}  // namespace

Result<Json> Requests::Revert(const Json& params) {
  auto app = AppParam(params);
  if (!app) {
    return Fail(app.error());
  }
  std::optional<std::string> revision;
  if (params.contains("revision") && params["revision"].is_string()) {
    revision = params["revision"].get<std::string>();
  }
  auto r = t_.engine.Revert(*app, revision);
  if (!r) {
    return Fail(r.error());
  }
  Json out = ResultJson(*r);
  out["app"] = *app;
  if (auto rev = t_.store.GetRevision(r->revision)) {
    out["version"] = rev->version;
  }
  return out;
}

Result<bundle::BundleFile> Requests::OpenBundle(const Json& params) {
  if (!params.contains("bundle") || !params["bundle"].is_string()) {
    return Fail(Errc::kInvalidArgument, "\"bundle\" (a path) is required");
  }
  const std::filesystem::path path = params["bundle"].get<std::string>();
  if (!path.is_absolute()) {
    return Fail(Errc::kInvalidArgument, "the bundle path must be absolute");
  }
  return bundle::BundleFile::Open(path);
}

Result<Json> Requests::Retry(const Json& params) {
  auto app = AppParam(params);
  if (!app) {
    return Fail(app.error());
  }
  if (auto st = CheckVersionParam(params); !st) {
    return Fail(st.error());
  }
  const std::string version = params["version"].get<std::string>();
  auto revisions = t_.engine.RetryBad(*app, version, "technician (ferry retry)");
  if (!revisions) {
    return Fail(revisions.error());
  }
  if (t_.fleet != nullptr) {
    t_.fleet->ResetBackoff();  // an assignment of it is tried at the next poll
  }
  return Json{{"app", *app}, {"version", version}, {"revisions", *revisions}};
}

Result<Json> Requests::Install(const bundle::BundleFile& file, bool retry_bad) {
  engine::InstallOptions options;
  if (retry_bad) {
    options.retry_bad_by = "technician (ferry install --retry-bad)";
  }
  auto r = t_.offline.Install(file, options, &t_.cancel);
  if (!r) {
    log::error("install {}: {}", file.path().string(), r.error().message());
    return Fail(r.error());
  }
  Json out = ResultJson(r->result);
  out["app"] = r->app;
  out["version"] = r->version;
  return out;
}

bool Requests::Waits(const Json& params) {
  return !params.contains("wait") || !params["wait"].is_boolean() || params["wait"].get<bool>();
}

Status Requests::CheckUpdate(const Json& params) const {
  if (auto app = AppParam(params); !app) {
    return Fail(app.error());
  }
  if (auto st = CheckVersionParam(params); !st) {
    return st;
  }
  if (t_.remote == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no repository is configured (set server_url or repository_url in ferryd.toml)");
  }
  return Ok();
}

Result<Json> Requests::Update(const Json& params) {
  if (auto checked = CheckUpdate(params); !checked) {
    return Fail(checked.error());
  }
  const std::string app = params["app"].get<std::string>();
  const std::string version = params["version"].get<std::string>();
  auto r = t_.remote->Install(app, version, engine::InstallOptions{}, &t_.cancel);
  if (!r) {
    log::error("update {} {}: {}", app, version, r.error().message());
    return Fail(r.error());
  }
  Json out = ResultJson(*r);
  out["app"] = app;
  out["version"] = version;
  return out;
}

}  // namespace ferry::daemon
