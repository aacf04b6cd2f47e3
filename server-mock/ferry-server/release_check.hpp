// The fleet server refuses to deploy what no device could install: a version the repository it
// serves does not list in its signed targets (docs/fleet-api.md, "Deployments").
#pragma once

#include <filesystem>

#include "ferry/fleet/fleet.hpp"

namespace ferry::server {

// Reads the repository at `repo` as a device would find a release: timestamp.json → the snapshot
// it names → the targets that snapshot names, and looks for the target "<app>/<version>.json".
// The metadata is read again at every call, so a release published after the server started is
// seen. It checks no signature: devices do that; this only spares the operator a deployment that
// cannot succeed. A directory without metadata/timestamp.json is not a repository yet, and then
// every version is accepted.
fleet::Fleet::ReleaseCheck RepositoryReleaseCheck(std::filesystem::path repo);

}  // namespace ferry::server
