// Where names meet paths: delegation path patterns and hash bins, and quoting of role and target
// names for URLs and file names.
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/trust/crypto.hpp"
#include "ferry/trust/metadata.hpp"

namespace ferry::trust {
namespace {

// fnmatch(3) semantics without flags, on one path component: `*`, `?`, `[set]`, `[!set]`.
bool MatchComponent(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star_p = std::string_view::npos;
  std::size_t star_t = 0;
  while (t < text.size()) {
    bool advanced = false;
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star_p = p++;
        star_t = t;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++t;
        advanced = true;
      } else if (pc == '[') {
        std::size_t q = p + 1;
        bool negate = false;
        if (q < pattern.size() && (pattern[q] == '!' || pattern[q] == '^')) {
          negate = true;
          ++q;
        }
        bool matched = false;
        bool first = true;
        while (q < pattern.size() && (first || pattern[q] != ']')) {
          first = false;
          char lo = pattern[q];
          char hi = lo;
          if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
            hi = pattern[q + 2];
            q += 2;
          }
          if (text[t] >= lo && text[t] <= hi) {
            matched = true;
          }
          ++q;
        }
        if (q >= pattern.size()) {
          // No closing bracket: '[' is an ordinary character.
          if (text[t] == '[') {
            ++p;
            ++t;
            advanced = true;
          }
        } else if (matched != negate) {
          p = q + 1;
          ++t;
          advanced = true;
        }
      } else if (pc == text[t]) {
        ++p;
        ++t;
        advanced = true;
      }
    }
    if (!advanced) {
      if (star_p == std::string_view::npos) {
        return false;
      }
      p = star_p + 1;
      t = ++star_t;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

std::vector<std::string_view> SplitSlash(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      return parts;
    }
    start = slash + 1;
  }
}

}  // namespace

std::string SuccinctRoles::RoleFor(std::string_view target_path) const {
  // The bin is the first bit_length bits of the path's sha256.
  const std::string digest = Sha256Hex(target_path);
  std::uint32_t first32 = 0;
  std::from_chars(digest.data(), digest.data() + 8, first32, 16);
  const std::uint32_t bin = bit_length == 32 ? first32 : first32 >> (32 - bit_length);
  const std::uint64_t last_bin = (std::uint64_t{1} << bit_length) - 1;
  std::size_t width = 1;
  while ((last_bin >> (4 * width)) != 0) {
    ++width;
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string suffix(width, '0');
  std::uint32_t rest = bin;
  for (std::size_t i = width; i-- > 0;) {
    suffix[i] = kDigits[rest & 0xF];
    rest >>= 4;
  }
  return name_prefix + "-" + suffix;
}

bool DelegatedRole::IsDelegatedPath(std::string_view target_path) const {
  if (paths) {
    const auto target_parts = SplitSlash(target_path);
    for (const auto& pattern : *paths) {
      const auto pattern_parts = SplitSlash(pattern);
      if (pattern_parts.size() != target_parts.size()) {
        continue;
      }
      bool all = true;
      for (std::size_t i = 0; i < pattern_parts.size() && all; ++i) {
        all = MatchComponent(pattern_parts[i], target_parts[i]);
      }
      if (all) {
        return true;
      }
    }
    return false;
  }
  if (path_hash_prefixes) {
    const std::string digest = Sha256Hex(target_path);
    for (const auto& prefix : *path_hash_prefixes) {
      if (digest.starts_with(prefix)) {
        return true;
      }
    }
  }
  return false;
}

std::string QuoteComponent(std::string_view name) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : name) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' ||
        b == '.' || b == '-' || b == '~') {
      out += c;
    } else {
      out += '%';
      out += kDigits[b >> 4];
      out += kDigits[b & 0x0F];
    }
  }
  return out;
}

std::string QuoteTargetPath(std::string_view path) {
  std::string out;
  bool first = true;
  for (const auto component : SplitSlash(path)) {
    if (!first) {
      out += '/';
    }
    first = false;
    if (component == ".") {
      out += "%2E";
    } else if (component == "..") {
      out += "%2E%2E";
    } else {
      out += QuoteComponent(component);
    }
  }
  return out;
}

}  // namespace ferry::trust
