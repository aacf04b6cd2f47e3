#include "ferry/manifest/semver.hpp"

#include <algorithm>
#include <charconv>

namespace ferry::manifest {
namespace {

bool IsAlnumOrHyphen(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::uint64_t> Number(std::string_view part, std::string_view what, std::string_view text) {
  if (!AllDigits(part)) {
    return Fail(Errc::kInvalidArgument,
                "version '" + std::string(text) + "': " + std::string(what) + " is not a number");
  }
  if (part.size() > 1 && part[0] == '0') {
    return Fail(Errc::kInvalidArgument, "version '" + std::string(text) +
                                            "': " + std::string(what) + " has a leading zero");
  }
  std::uint64_t n = 0;
  if (std::from_chars(part.data(), part.data() + part.size(), n).ec != std::errc()) {
    return Fail(Errc::kInvalidArgument,
                "version '" + std::string(text) + "': " + std::string(what) + " is too large");
  }
  return n;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t pos = s.find(sep, start);
    out.push_back(
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) {
      return out;
    }
    start = pos + 1;
  }
}

}  // namespace

std::string SemVer::String() const {
  std::string out =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (std::size_t i = 0; i < prerelease.size(); ++i) {
    out += (i == 0 ? "-" : ".") + prerelease[i];
  }
  if (!build.empty()) {
    out += "+" + build;
  }
  return out;
}

Result<SemVer> ParseSemVer(std::string_view text) {
  const std::string quoted = "version '" + std::string(text) + "'";
  if (text.empty() || text.size() > 128) {
    return Fail(Errc::kInvalidArgument, quoted + ": must be 1 to 128 characters");
  }
  SemVer v;
  std::string_view rest = text;
  if (const auto plus = rest.find('+'); plus != std::string_view::npos) {
    v.build = std::string(rest.substr(plus + 1));
    rest = rest.substr(0, plus);
    for (auto id : Split(v.build, '.')) {
      if (id.empty() || !std::all_of(id.begin(), id.end(), IsAlnumOrHyphen)) {
        return Fail(Errc::kInvalidArgument, quoted + ": bad build metadata");
      }
    }
  }
  std::string_view pre;
  if (const auto dash = rest.find('-'); dash != std::string_view::npos) {
    pre = rest.substr(dash + 1);
    rest = rest.substr(0, dash);
    for (auto id : Split(pre, '.')) {
      if (id.empty() || !std::all_of(id.begin(), id.end(), IsAlnumOrHyphen)) {
        return Fail(Errc::kInvalidArgument, quoted + ": bad pre-release identifier");
      }
      if (AllDigits(id) && id.size() > 1 && id[0] == '0') {
        return Fail(Errc::kInvalidArgument, quoted + ": pre-release number has a leading zero");
      }
      v.prerelease.emplace_back(id);
    }
  }
  const auto core = Split(rest, '.');
  if (core.size() != 3) {
    return Fail(Errc::kInvalidArgument, quoted + ": expected MAJOR.MINOR.PATCH");
  }
  auto major = Number(core[0], "major", text);
  auto minor = Number(core[1], "minor", text);
  auto patch = Number(core[2], "patch", text);
  for (auto* r : {&major, &minor, &patch}) {
    if (!*r) {
      return Fail(r->error());
    }
  }
  v.major = *major;
  v.minor = *minor;
  v.patch = *patch;
  return v;
}

int Compare(const SemVer& a, const SemVer& b) {
  for (auto [x, y] : {std::pair{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}}) {
    if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  // A version without pre-release identifiers ranks above one with them.
  if (a.prerelease.empty() || b.prerelease.empty()) {
    if (a.prerelease.empty() && b.prerelease.empty()) {
      return 0;
    }
    return a.prerelease.empty() ? 1 : -1;
  }
  const std::size_t n = std::min(a.prerelease.size(), b.prerelease.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto& x = a.prerelease[i];
    const auto& y = b.prerelease[i];
    const bool xn = AllDigits(x);
    const bool yn = AllDigits(y);
    if (xn && yn) {
      if (x.size() != y.size()) {
        return x.size() < y.size() ? -1 : 1;
      }
      if (x != y) {
        return x < y ? -1 : 1;
      }
    } else if (xn != yn) {
      return xn ? -1 : 1;  // numeric identifiers rank below alphanumeric ones
    } else if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  if (a.prerelease.size() != b.prerelease.size()) {
    return a.prerelease.size() < b.prerelease.size() ? -1 : 1;
  }
  return 0;
}

}  // namespace ferry::manifest
