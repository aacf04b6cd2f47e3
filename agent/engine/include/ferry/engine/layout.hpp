// The engine's names for what it keeps under the state directory: where (ferry::layout::Layout,
// the one place a path under the state directory is spelled), and the ids of revisions and their
// containers.
#pragma once

#include <string>
#include <string_view>

#include "ferry/layout/layout.hpp"

namespace ferry::engine {

using Layout = layout::Layout;

// The revision id of a release: "<version>-<12 hex of the manifest digest>", with characters a
// container id may not hold replaced, so it is stable for the same signed manifest.
std::string RevisionId(std::string_view version, std::string_view manifest_digest);

// The runtime's container id for a revision of an app.
std::string ContainerId(std::string_view app, std::string_view revision);

}  // namespace ferry::engine
