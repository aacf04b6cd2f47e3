// Reading the encoder's inputs (a layer tar, a file of an unpacked old layer) whole.
#pragma once

#include <filesystem>
#include <string>

#include "ferry/core/result.hpp"

namespace ferry::delta {

// The bytes of the file at `path`; kBadInput naming the file when it cannot be opened or read.
Result<std::string> ReadInputFile(const std::filesystem::path& path);

}  // namespace ferry::delta
