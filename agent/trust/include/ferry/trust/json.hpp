// A small strict JSON parser for signed metadata. Unlike general-purpose libraries it keeps object
// members in the order received, rejects duplicate keys (two parsers could otherwise disagree on
// what was signed) and rejects non-integer numbers (canonical JSON has none). Canonicalize() gives
// the OLPC canonical form that TUF signatures cover.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::trust {

class Json {
 public:
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;  // in the order received; keys unique

  Json() = default;  // null
  explicit Json(bool b) : v_(b) {}
  explicit Json(std::int64_t i) : v_(i) {}
  explicit Json(std::string s) : v_(std::move(s)) {}
  explicit Json(Array a) : v_(std::move(a)) {}
  explicit Json(Object o) : v_(std::move(o)) {}

  bool IsNull() const { return std::holds_alternative<std::monostate>(v_); }
  bool IsBool() const { return std::holds_alternative<bool>(v_); }
  bool IsInt() const { return std::holds_alternative<std::int64_t>(v_); }
  bool IsString() const { return std::holds_alternative<std::string>(v_); }
  bool IsArray() const { return std::holds_alternative<Array>(v_); }
  bool IsObject() const { return std::holds_alternative<Object>(v_); }

  // Accessors; calling one on a value of another kind is a bug of the caller (FERRY_CHECK).
  bool AsBool() const;
  std::int64_t AsInt() const;
  const std::string& AsString() const;
  const Array& AsArray() const;
  const Object& AsObject() const;
  Array& MutableArray();
  Object& MutableObject();

  // The member named `key` of an object, or nullptr when absent or when this is not an object.
  const Json* Find(std::string_view key) const;
  // Sets (replaces or appends) a member of an object.
  void Set(std::string key, Json value);

 private:
  std::variant<std::monostate, bool, std::int64_t, std::string, Array, Object> v_;
};

// Parses one JSON document (RFC 8259) with the restrictions above, nesting at most `max_depth`.
// Fails with TrustErrc::kMalformed.
Result<Json> ParseJson(std::string_view text, int max_depth = 64);

// OLPC canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace, strings with only
// `"` and `\` escaped, integers in decimal.
std::string Canonicalize(const Json& value);

// Plain compact JSON in member order, with control characters escaped: what repositories serve.
// (Canonical JSON leaves control characters raw, so it is not always valid JSON.)
std::string Serialize(const Json& value);

}  // namespace ferry::trust
