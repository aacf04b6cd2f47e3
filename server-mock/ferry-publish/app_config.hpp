// The runtime settings of a release: imported from the image config (Entrypoint, Cmd, Env,
// WorkingDir, User, ExposedPorts, Volumes, Labels, Healthcheck), then adjusted by the operator's
// app config file (JSON; schema in docs/repository.md). The result is the manifest's "config"
// object, which the manifest parser then validates field by field.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ferry/core/result.hpp"

namespace ferry::publish {

struct AppConfig {
  nlohmann::json overrides = nlohmann::json::object();  // keys of the manifest's config object
  std::optional<std::string> min_from_version;
};

// Reads an app config file. Unknown keys and wrong types fail with kInvalidArgument naming them.
Result<AppConfig> LoadAppConfig(const std::filesystem::path& path);

// The manifest "config" object for an image config ("config" member of the OCI/Docker image
// config; null for a bare root filesystem) and the app config. Fails with kInvalidArgument when
// an image value cannot be expressed (a user name instead of a numeric uid, a bad port).
Result<nlohmann::json> BuildRuntimeConfig(const nlohmann::json& image_config, const AppConfig& app);

}  // namespace ferry::publish
