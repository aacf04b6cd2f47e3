// Small parsers for text from the wire (HTTP header values), shared by the fetcher, the fleet
// client and ferry-server. Malformed input gives nullopt, never a guess.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view TrimHttpSpace(std::string_view s);

// A non-empty run of decimal digits that fits in 64 bits; anything else (a sign, a space, another
// character, overflow) is nullopt.
std::optional<std::uint64_t> ParseDecimal(std::string_view s);

}  // namespace ferry
