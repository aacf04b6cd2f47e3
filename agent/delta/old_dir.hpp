// Opening files of an unpacked old layer by a path taken from a delta, without ever leaving the
// layer directory: relative paths only, no "." or ".." components, no symlinks followed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::delta {

// True when `path` is a plain relative path: non-empty components, none "." or "..", no NUL.
bool IsSafeRelativePath(std::string_view path);

// Opens the regular file `path` below the directory `root_fd`. Fails with kPathEscape for an
// unsafe path or a symlink on the way, kOldFileMismatch when it is missing or not a regular file.
Result<UniqueFd> OpenBeneath(int root_fd, std::string_view path);

// Reads exactly `len` bytes at `offset`; a short file is kOldFileMismatch.
Status PreadExact(int fd, std::uint64_t offset, std::uint8_t* out, std::size_t len,
                  std::string_view what);

}  // namespace ferry::delta
