// A guard to run before a recursive JSON parser sees text from outside: nesting deep enough to
// exhaust the stack (in the parser or the destructor) is refused by a linear scan first.
#pragma once

#include <string_view>

namespace ferry {

// Whether no array or object in `text` is nested deeper than `max_depth`. Brackets inside
// strings (with their escapes) do not count. Malformed text passes: the parser refuses it.
bool JsonNestingWithin(std::string_view text, int max_depth);

}  // namespace ferry
