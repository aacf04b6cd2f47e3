// Splitting and checking a path taken from a tar header (module-internal).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/layers/extract.hpp"

namespace ferry::layers {

// The components of `raw` with empty and "." components dropped ("./a//b/" -> {"a", "b"}; "./" ->
// {}). Fails with kNulInName, kUnsafePath (absolute, `..`), kPathTooLong, kNameTooLong or
// kPathTooDeep; `what` starts the message ("entry", "hardlink target").
Result<std::vector<std::string>> SplitEntryPath(std::string_view raw, const ExtractPolicy& policy,
                                                std::string_view what);

// "a/b/c" from {"a", "b", "c"} (the first `count` components).
std::string JoinPath(const std::vector<std::string>& components, std::size_t count);

// A path for messages: printable ASCII kept, anything else escaped, long paths shortened.
std::string QuotePath(std::string_view raw);

// How messages name an entry: `entry "etc/passwd"`.
std::string EntryName(std::string_view path);

// An errno error (the current errno) for the OS call `what` on an entry.
Error EntryErrno(std::string_view path, std::string_view what);

}  // namespace ferry::layers
