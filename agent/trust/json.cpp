#include "ferry/trust/json.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <unordered_set>

#include "ferry/core/check.hpp"
#include "ferry/core/json_depth.hpp"
#include "ferry/trust/error.hpp"

namespace ferry::trust {

bool Json::AsBool() const {
  FERRY_CHECK(IsBool());
  return std::get<bool>(v_);
}
std::int64_t Json::AsInt() const {
  FERRY_CHECK(IsInt());
  return std::get<std::int64_t>(v_);
}
const std::string& Json::AsString() const {
  FERRY_CHECK(IsString());
  return std::get<std::string>(v_);
}
const Json::Array& Json::AsArray() const {
  FERRY_CHECK(IsArray());
  return std::get<Array>(v_);
}
const Json::Object& Json::AsObject() const {
  FERRY_CHECK(IsObject());
  return std::get<Object>(v_);
}
Json::Array& Json::MutableArray() {
  FERRY_CHECK(IsArray());
  return std::get<Array>(v_);
}
Json::Object& Json::MutableObject() {
  FERRY_CHECK(IsObject());
  return std::get<Object>(v_);
}

const Json* Json::Find(std::string_view key) const {
  if (!IsObject()) {
    return nullptr;
  }
  for (const auto& [k, v] : std::get<Object>(v_)) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

void Json::Set(std::string key, Json value) {
  auto& obj = MutableObject();
  for (auto& [k, v] : obj) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  obj.emplace_back(std::move(key), std::move(value));
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  Result<Json> Document() {
    auto v = Value(0);
    if (!v) {
      return v;
    }
    SkipSpace();
    if (pos_ != s_.size()) {
      return Error("trailing data");
    }
    return v;
  }

 private:
  std::unexpected<ferry::Error> Error(std::string_view what) const {
    return Fail(TrustErrc::kMalformed,
                "JSON: " + std::string(what) + " at offset " + std::to_string(pos_));
  }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  Result<Json> Value(int depth) {
    if (depth > max_depth_) {
      return Error("nesting too deep");
    }
    SkipSpace();
    if (pos_ >= s_.size()) {
      return Error("unexpected end");
    }
    const char c = s_[pos_];
    if (c == '{') {
      return ObjectValue(depth);
    }
    if (c == '[') {
      return ArrayValue(depth);
    }
    if (c == '"') {
      auto str = String();
      if (!str) {
        return std::unexpected(str.error());
      }
      return Json(std::move(*str));
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      return Number();
    }
    if (Literal("true")) {
      return Json(true);
    }
    if (Literal("false")) {
      return Json(false);
    }
    if (Literal("null")) {
      return Json();
    }
    return Error("unexpected character");
  }

  Result<Json> Number() {
    const std::size_t start = pos_;
    if (s_[pos_] == '-') {
      ++pos_;
    }
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') {
      return Error("bad number");
    }
    if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9') {
      return Error("leading zero");
    }
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
      return Error("non-integer number");
    }
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, value);
    if (ec != std::errc() || ptr != s_.data() + pos_) {
      return Error("integer out of range");
    }
    if (value == 0 && s_[start] == '-') {
      return Error("negative zero");
    }
    return Json(value);
  }

  static void AppendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool Hex4(std::uint32_t& out) {
    if (pos_ + 4 > s_.size()) {
      return false;
    }
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      out <<= 4;
      if (h >= '0' && h <= '9') {
        out |= static_cast<std::uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        out |= static_cast<std::uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        out |= static_cast<std::uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  // Length of the valid UTF-8 sequence starting at pos_, or 0 when it is not valid.
  std::size_t Utf8Length() const {
    const auto b0 = static_cast<unsigned char>(s_[pos_]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2;
      cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3;
      cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4;
      cp = b0 & 0x07u;
    } else {
      return 0;
    }
    if (pos_ + n > s_.size()) {
      return 0;
    }
    for (std::size_t i = 1; i < n; ++i) {
      const auto b = static_cast<unsigned char>(s_[pos_ + i]);
      if ((b & 0xC0) != 0x80) {
        return 0;
      }
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return 0;
    }
    return n;
  }

  Result<std::string> String() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) {
        return Error("unterminated string");
      }
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Error("control character in string");
      }
      if (static_cast<unsigned char>(c) >= 0x80) {
        const std::size_t n = Utf8Length();
        if (n == 0) {
          return Error("invalid UTF-8");
        }
        out.append(s_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) {
        return Error("unterminated escape");
      }
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!Hex4(cp)) {
            return Error("bad \\u escape");
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low = 0;
            if (!Literal("\\u") || !Hex4(low) || low < 0xDC00 || low > 0xDFFF) {
              return Error("unpaired surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Error("unpaired surrogate");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  Result<Json> ArrayValue(int depth) {
    ++pos_;
    Json::Array items;
    SkipSpace();
    if (Consume(']')) {
      return Json(std::move(items));
    }
    while (true) {
      auto item = Value(depth + 1);
      if (!item) {
        return item;
      }
      items.push_back(std::move(*item));
      auto end = EndOfElement(']', "array");
      if (!end) {
        return std::unexpected(end.error());
      }
      if (*end) {
        return Json(std::move(items));
      }
    }
  }

  Result<Json> ObjectValue(int depth) {
    ++pos_;
    Json::Object members;
    std::unordered_set<std::string> seen;
    SkipSpace();
    if (Consume('}')) {
      return Json(std::move(members));
    }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        return Error("expected member name");
      }
      auto key = String();
      if (!key) {
        return std::unexpected(key.error());
      }
      // A set, not a scan of `members`: a snapshot may list tens of thousands of roles.
      if (!seen.insert(*key).second) {
        return Error("duplicate key \"" + *key + "\"");
      }
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') {
        return Error("expected :");
      }
      ++pos_;
      auto value = Value(depth + 1);
      if (!value) {
        return value;
      }
      members.emplace_back(std::move(*key), std::move(*value));
      auto end = EndOfElement('}', "object");
      if (!end) {
        return std::unexpected(end.error());
      }
      if (*end) {
        return Json(std::move(members));
      }
    }
  }

  // Consumes `c` when it comes next.
  bool Consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // After an element of an array or object: consumes the ',' before the next one (false) or the
  // `close` that ends the container (true).
  Result<bool> EndOfElement(char close, std::string_view container) {
    SkipSpace();
    if (pos_ >= s_.size()) {
      return Error("unterminated " + std::string(container));
    }
    if (Consume(',')) {
      return false;
    }
    if (Consume(close)) {
      return true;
    }
    return Error(std::string("expected , or ") + close);
  }

  std::string_view s_;
  int max_depth_;
  std::size_t pos_ = 0;
};

void EscapedString(const std::string& s, std::string& out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (b < 0x20) {
      out += "\\u00";
      out += kDigits[b >> 4];
      out += kDigits[b & 0x0F];
    } else {
      out += c;
    }
  }
  out += '"';
}

// Writes `open`, then each of `items` with `write` and commas between them, then `close`.
template <class Items, class Write>
void JoinInto(char open, const Items& items, char close, std::string& out, const Write& write) {
  out += open;
  bool first = true;
  for (const auto& item : items) {
    if (!first) {
      out += ',';
    }
    first = false;
    write(item);
  }
  out += close;
}

void SerializeInto(const Json& v, std::string& out) {
  if (v.IsString()) {
    EscapedString(v.AsString(), out);
  } else if (v.IsArray()) {
    JoinInto('[', v.AsArray(), ']', out, [&](const Json& item) { SerializeInto(item, out); });
  } else if (v.IsObject()) {
    JoinInto('{', v.AsObject(), '}', out, [&](const Json::Member& member) {
      EscapedString(member.first, out);
      out += ':';
      SerializeInto(member.second, out);
    });
  } else {
    out += Canonicalize(v);
  }
}

void CanonicalString(const std::string& s, std::string& out) {
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
}

void CanonicalInto(const Json& v, std::string& out) {
  if (v.IsNull()) {
    out += "null";
  } else if (v.IsBool()) {
    out += v.AsBool() ? "true" : "false";
  } else if (v.IsInt()) {
    out += std::to_string(v.AsInt());
  } else if (v.IsString()) {
    CanonicalString(v.AsString(), out);
  } else if (v.IsArray()) {
    JoinInto('[', v.AsArray(), ']', out, [&](const Json& item) { CanonicalInto(item, out); });
  } else {
    std::vector<const Json::Member*> sorted;
    for (const auto& m : v.AsObject()) {
      sorted.push_back(&m);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const Json::Member* a, const Json::Member* b) { return a->first < b->first; });
    JoinInto('{', sorted, '}', out, [&](const Json::Member* m) {
      CanonicalString(m->first, out);
      out += ':';
      CanonicalInto(m->second, out);
    });
  }
}

}  // namespace

Result<Json> ParseJson(std::string_view text, int max_depth) {
  // The size was bounded by the fetch (the signed length or max_metadata_bytes); the nesting is
  // checked by the one linear scan every reader of outside JSON uses, before any recursion.
  if (!JsonNestingWithin(text, max_depth)) {
    return Fail(TrustErrc::kMalformed,
                "JSON: nesting too deep (more than " + std::to_string(max_depth) + " levels)");
  }
  return Parser(text, max_depth).Document();
}

std::string Serialize(const Json& value) {
  std::string out;
  SerializeInto(value, out);
  return out;
}

std::string Canonicalize(const Json& value) {
  std::string out;
  CanonicalInto(value, out);
  return out;
}

}  // namespace ferry::trust
