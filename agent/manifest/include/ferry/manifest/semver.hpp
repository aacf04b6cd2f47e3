// Semantic versions (semver.org 2.0.0): parsing and precedence, for "never below the floor" and
// "oldest version a device may update from" checks.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::manifest {

struct SemVer {
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  std::uint64_t patch = 0;
  std::vector<std::string> prerelease;  // dot-separated identifiers after '-'
  std::string build;                    // after '+'; ignored for precedence

  std::string String() const;
};

// Parses "1.2.3", "1.2.3-rc.1", "1.2.3+build.5". Leading zeros, empty identifiers and anything
// else semver forbids are errors naming the problem.
Result<SemVer> ParseSemVer(std::string_view text);

// Precedence per semver §11 (build metadata ignored): <0, 0, >0.
int Compare(const SemVer& a, const SemVer& b);

inline bool operator<(const SemVer& a, const SemVer& b) { return Compare(a, b) < 0; }
inline bool operator==(const SemVer& a, const SemVer& b) { return Compare(a, b) == 0; }

}  // namespace ferry::manifest
