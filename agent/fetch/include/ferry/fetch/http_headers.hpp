// Parsers for the HTTP response headers the blob fetcher acts on. They take text from a server,
// so every malformed value gives nullopt, never a crash or a guess.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry::fetch {

// A satisfied byte range: "bytes FIRST-LAST/TOTAL" (RFC 9110 §14.4); TOTAL may be "*" (unknown).
struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::optional<std::uint64_t> total;
};

// Parses a Content-Range value. Refuses other units, "bytes */N" (the unsatisfied form),
// LAST < FIRST, TOTAL <= LAST, signs, spaces inside numbers and numbers past 2^64.
std::optional<ContentRange> ParseContentRange(std::string_view value);

// Parses an HTTP-date in the preferred IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37 GMT") or the
// obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994")
// forms that RFC 9110 §5.6.7 asks recipients to accept.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view value);

// Parses Retry-After (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date turned into the delay from
// `now` (zero when the date has passed). Surrounding spaces are ignored.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now);

}  // namespace ferry::fetch
