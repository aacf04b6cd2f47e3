// Copy-and-truncate rotation of a container log that the container keeps open with O_APPEND.
#pragma once

#include <cstdint>
#include <filesystem>

#include "ferry/core/result.hpp"

namespace ferry::runtime {

// When `log` is larger than `max_bytes`, replaces <log>.1 with its last `max_bytes` bytes and
// truncates `log` to zero. Returns whether it rotated. A missing log is not an error.
Result<bool> RotateLogIfLarge(const std::filesystem::path& log, std::uint64_t max_bytes);

}  // namespace ferry::runtime
