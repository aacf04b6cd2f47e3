// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::httpd {

// Formats seconds since the epoch (UTC) as IMF-fixdate.
std::string FormatHttpDate(std::time_t t);

// Parses IMF-fixdate; returns nothing for the obsolete formats or malformed text (callers then
// ignore the header, as RFC 9110 asks).
std::optional<std::time_t> ParseHttpDate(std::string_view text);

}  // namespace ferry::httpd
