#include "ferry/httpd/target_path.hpp"

#include "ferry/httpd/error.hpp"

namespace ferry::httpd {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return Fail(HttpdErrc::kBadPath, "truncated percent escape");
      }
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return Fail(HttpdErrc::kBadPath, "malformed percent escape");
      }
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') {
      return Fail(HttpdErrc::kBadPath, "NUL byte in path");
    }
    out.push_back(c);
  }
  return out;
}

SplitTarget SplitRequestTarget(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return {target, {}};
  }
  return {target.substr(0, q), target.substr(q + 1)};
}

Result<std::string> NormalizeTargetPath(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') {
    return Fail(HttpdErrc::kBadPath, "path does not start with '/'");
  }
  auto decoded = PercentDecode(raw_path);
  if (!decoded) {
    return Fail(decoded.error());
  }
  std::string out;
  std::string_view rest = *decoded;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") {
      continue;
    }
    if (segment == "..") {
      return Fail(HttpdErrc::kBadPath, "'..' in path");
    }
    if (segment.find('\\') != std::string_view::npos) {
      return Fail(HttpdErrc::kBadPath, "backslash in path");
    }
    if (!out.empty()) {
      out.push_back('/');
    }
    out.append(segment);
  }
  return out;
}

}  // namespace ferry::httpd
