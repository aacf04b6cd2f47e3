// The HTTP Range header (RFC 9110 §14), single byte ranges only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::httpd {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t length = 0;  // never 0 for a satisfiable range
};

struct RangeRequest {
  enum class Kind {
    kFull,     // serve the whole representation with 200: no, unknown, malformed or multi-range
    kPartial,  // serve `range` with 206
    kUnsatisfiable,  // answer 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::kFull;
  ByteRange range;
};

// Interprets a Range header value against a representation of `size` bytes. Accepts
// "bytes=a-b", "bytes=a-" and "bytes=-n" (whitespace around tokens allowed; the last position is
// clamped to size-1). Anything it does not understand yields kFull, as RFC 9110 lets a server
// ignore a Range it cannot use; a list of several ranges also yields kFull.
RangeRequest ParseRange(std::string_view value, std::uint64_t size);

// "bytes first-last/size", the Content-Range value of a 206 response.
std::string ContentRangeValue(ByteRange range, std::uint64_t size);

}  // namespace ferry::httpd
