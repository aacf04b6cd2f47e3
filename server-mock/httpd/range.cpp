#include "ferry/httpd/range.hpp"

#include <charconv>
#include <limits>
#include <optional>

namespace ferry::httpd {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// A non-empty run of digits that fits in 64 bits; anything else (sign, space, overflow) fails.
std::optional<std::uint64_t> ParseNumber(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return value;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

RangeRequest ParseRange(std::string_view value, std::uint64_t size) {
  RangeRequest full;
  value = Trim(value);
  const auto eq = value.find('=');
  if (eq == std::string_view::npos || !EqualsIgnoreCase(Trim(value.substr(0, eq)), "bytes")) {
    return full;
  }
  const std::string_view spec = Trim(value.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) {
    return full;  // several ranges: the whole body is a valid answer and keeps the server simple
  }
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) {
    return full;
  }
  const std::string_view first_text = Trim(spec.substr(0, dash));
  const std::string_view last_text = Trim(spec.substr(dash + 1));
  RangeRequest out;
  if (first_text.empty()) {
    const auto suffix = ParseNumber(last_text);
    if (!suffix) {
      return full;
    }
    if (*suffix == 0 || size == 0) {
      out.kind = RangeRequest::Kind::kUnsatisfiable;
      return out;
    }
    const std::uint64_t length = *suffix < size ? *suffix : size;
    out.kind = RangeRequest::Kind::kPartial;
    out.range = {size - length, length};
    return out;
  }
  const auto first = ParseNumber(first_text);
  if (!first) {
    return full;
  }
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!last_text.empty()) {
    const auto parsed = ParseNumber(last_text);
    if (!parsed || *parsed < *first) {
      return full;  // RFC 9110 §14.1.1: an invalid range-spec makes the header ignorable
    }
    last = *parsed;
  }
  if (*first >= size) {
    out.kind = RangeRequest::Kind::kUnsatisfiable;
    return out;
  }
  if (last >= size) {
    last = size - 1;
  }
  out.kind = RangeRequest::Kind::kPartial;
  out.range = {*first, last - *first + 1};
  return out;
}

std::string ContentRangeValue(ByteRange range, std::uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" +
         std::to_string(range.first + range.length - 1) + "/" + std::to_string(size);
}

}  // namespace ferry::httpd
