// The one way Ferry reads JSON from outside (the control socket, the fleet API, /_faults, fleet
// replies, bundle and TUF metadata): size and nesting are checked by a linear scan BEFORE a
// parser sees the text, so no input can exhaust the stack (in the parser, a destructor or a
// later dump) or the memory of a recursive parser.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry {

// Whether no array or object in `text` is nested deeper than `max_depth`. Brackets inside
// strings (with their escapes) do not count. Malformed text passes: the parser refuses it.
bool JsonNestingWithin(std::string_view text, int max_depth);

struct JsonBounds {
  std::size_t max_bytes = 1u << 20;
  int max_depth = 32;
};

// Errc::kInvalidArgument naming the bound when `text` is larger than `bounds.max_bytes` or
// nested deeper than `bounds.max_depth`; Ok otherwise (malformed text passes: the parser refuses
// it).
Status CheckJsonBounds(std::string_view text, const JsonBounds& bounds);

// CheckJsonBounds, then parses with nlohmann::json without exceptions. Errc::kInvalidArgument
// when a bound is passed or the text is not one JSON document.
Result<nlohmann::json> ParseBoundedJson(std::string_view text, const JsonBounds& bounds);

}  // namespace ferry
