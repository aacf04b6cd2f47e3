#include "release_check.hpp"

#include <nlohmann/json.hpp>
#include <system_error>

#include "ferry/core/fs.hpp"
#include "ferry/fleet/error.hpp"

namespace ferry::server {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxMetadata = 64u << 20;

// The signed part of metadata/`name`, or why it cannot be read.
Result<json> Signed(const std::filesystem::path& repo, const std::string& name) {
  auto text = fs::ReadFile(repo / "metadata" / name, kMaxMetadata);
  if (!text) {
    return Fail(text.error().WithContext("repository metadata " + name));
  }
  json doc = json::parse(*text, nullptr, false);
  if (!doc.is_object() || !doc.contains("signed") || !doc["signed"].is_object()) {
    return Fail(fleet::FleetErrc::kBadRequest, "repository metadata " + name + " is malformed");
  }
  return doc["signed"];
}

// The version that `meta` (of a timestamp or snapshot) gives the file `role`.json.
Result<std::int64_t> VersionOf(const json& signed_part, const std::string& role,
                               const std::string& in) {
  const json& meta = signed_part.value("meta", json::object());
  const std::string file = role + ".json";
  if (!meta.is_object() || !meta.contains(file) || !meta[file].is_object() ||
      !meta[file].contains("version") || !meta[file]["version"].is_number_integer()) {
    return Fail(fleet::FleetErrc::kBadRequest,
                "repository metadata " + in + " does not name a " + role + " version");
  }
  return meta[file]["version"].get<std::int64_t>();
}

Status Listed(const std::filesystem::path& repo, const std::string& app,
              const std::string& version) {
  std::error_code ec;
  if (!std::filesystem::exists(repo / "metadata" / "timestamp.json", ec)) {
    return Ok();
  }
  auto timestamp = Signed(repo, "timestamp.json");
  if (!timestamp) {
    return Fail(timestamp.error());
  }
  auto snapshot_version = VersionOf(*timestamp, "snapshot", "timestamp.json");
  if (!snapshot_version) {
    return Fail(snapshot_version.error());
  }
  const std::string snapshot_name = std::to_string(*snapshot_version) + ".snapshot.json";
  auto snapshot = Signed(repo, snapshot_name);
  if (!snapshot) {
    return Fail(snapshot.error());
  }
  auto targets_version = VersionOf(*snapshot, "targets", snapshot_name);
  if (!targets_version) {
    return Fail(targets_version.error());
  }
  auto targets = Signed(repo, std::to_string(*targets_version) + ".targets.json");
  if (!targets) {
    return Fail(targets.error());
  }
  const std::string target = app + "/" + version + ".json";
  const json& listed = targets->value("targets", json::object());
  if (listed.is_object() && listed.contains(target)) {
    return Ok();
  }
  return Fail(fleet::FleetErrc::kBadRequest,
              app + " " + version + " is not published: the repository's signed targets (version " +
                  std::to_string(*targets_version) + ") do not list " + target +
                  "; publish it with ferry-publish release first");
}

}  // namespace

fleet::Fleet::ReleaseCheck RepositoryReleaseCheck(std::filesystem::path repo) {
  return [repo = std::move(repo)](const std::string& app, const std::string& version) -> Status {
    return Listed(repo, app, version);
  };
}

}  // namespace ferry::server
