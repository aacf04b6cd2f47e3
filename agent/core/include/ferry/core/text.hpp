// Small parsers for text from the wire (HTTP header values), shared by the fetcher, the fleet
// client and ferry-server: malformed input gives nullopt, never a guess. And plain text for people
// (sizes, tables), shared by the ferry CLI and ferry-server.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view TrimHttpSpace(std::string_view s);

// A non-empty run of decimal digits that fits in 64 bits; anything else (a sign, a space, another
// character, overflow) is nullopt.
std::optional<std::uint64_t> ParseDecimal(std::string_view s);

// 1536 → "1.5 KiB": a size a person reads at a glance.
std::string FormatBytes(std::uint64_t n);

// Prints `rows` as left-aligned columns, two spaces apart, one line a row.
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

}  // namespace ferry
