// What ferryd settles before it serves: who may read its control socket, and that it is the only
// agent working in its state directory.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/engine/layout.hpp"

namespace ferry::daemon {

// Resolves `control_group` (a group name or a numeric gid); nullopt when it is empty.
Result<std::optional<gid_t>> ControlGroup(const std::string& name);

// One ferryd per state directory: an exclusive flock on its lock file (Layout::lock_file), held
// for the process's life (released by the kernel however it ends), with the holder's pid inside.
// kAlreadyExists, naming the holder, when another ferryd holds it.
Result<UniqueFd> LockStateDir(const engine::Layout& layout);

}  // namespace ferry::daemon
