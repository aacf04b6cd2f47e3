#include "ferry/core/json_depth.hpp"

#include <string>

namespace ferry {

bool JsonNestingWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return false;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Status CheckJsonBounds(std::string_view text, const JsonBounds& bounds) {
  if (text.size() > bounds.max_bytes) {
    return Fail(Errc::kInvalidArgument, "JSON text of " + std::to_string(text.size()) +
                                            " bytes is larger than " +
                                            std::to_string(bounds.max_bytes));
  }
  if (!JsonNestingWithin(text, bounds.max_depth)) {
    return Fail(Errc::kInvalidArgument,
                "JSON nested deeper than " + std::to_string(bounds.max_depth) + " levels");
  }
  return Ok();
}

Result<nlohmann::json> ParseBoundedJson(std::string_view text, const JsonBounds& bounds) {
  if (auto st = CheckJsonBounds(text, bounds); !st) {
    return Fail(st.error());
  }
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Fail(Errc::kInvalidArgument, "not a JSON document");
  }
  return parsed;
}

}  // namespace ferry
