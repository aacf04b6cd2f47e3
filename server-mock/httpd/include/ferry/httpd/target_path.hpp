// Request targets turned into paths below a served root, refusing everything that could escape it.
#pragma once

#include <string>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry::httpd {

// Decodes %XX escapes. Fails (kBadPath) on a malformed escape and on a NUL byte, encoded or not.
// '+' is kept as is: it means a space only in form data, not in paths.
Result<std::string> PercentDecode(std::string_view text);

// Splits an origin-form request target "/a/b?x=1" into the path "/a/b" and the query "x=1".
struct SplitTarget {
  std::string_view path;
  std::string_view query;
};
SplitTarget SplitRequestTarget(std::string_view target);

// Turns the raw (still percent-encoded) path of a request into a path relative to the served root:
// "/blobs/sha256/ab%20c" -> "blobs/sha256/ab c". Empty and "." segments are dropped, so "//etc"
// stays below the root. Fails (kBadPath) when the path does not start with '/', has a malformed
// escape, a NUL byte, a ".." segment (encoded or not) or a backslash. Returns "" for the root
// itself. The result never starts with '/' and never contains "." or ".." segments.
Result<std::string> NormalizeTargetPath(std::string_view raw_path);

}  // namespace ferry::httpd
