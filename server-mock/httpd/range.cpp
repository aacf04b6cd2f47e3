#include "ferry/httpd/range.hpp"

#include <limits>
#include <optional>

#include "ferry/core/text.hpp"

namespace ferry::httpd {
namespace {

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
  value = TrimHttpSpace(value);
  const auto eq = value.find('=');
  if (eq == std::string_view::npos ||
      !EqualsIgnoreCase(TrimHttpSpace(value.substr(0, eq)), "bytes")) {
    return full;
  }
  const std::string_view spec = TrimHttpSpace(value.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) {
    return full;  // several ranges: the whole body is a valid answer and keeps the server simple
  }
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) {
    return full;
  }
  const std::string_view first_text = TrimHttpSpace(spec.substr(0, dash));
  const std::string_view last_text = TrimHttpSpace(spec.substr(dash + 1));
  RangeRequest out;
  if (first_text.empty()) {
    const auto suffix = ParseDecimal(last_text);
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
  const auto first = ParseDecimal(first_text);
  if (!first) {
    return full;
  }
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!last_text.empty()) {
    const auto parsed = ParseDecimal(last_text);
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
