#pragma once

#include <cstdlib>
#include <string_view>

namespace ferry::testing {

// True when the machine was prepared by scripts/install-deps and scripts/test says so
// (FERRY_REQUIRE_PREREQUISITES=1): a test that cannot run there is a failure, not a skip.
inline bool PrerequisitesRequired() {
  const char* v = std::getenv("FERRY_REQUIRE_PREREQUISITES");
  return v != nullptr && std::string_view(v) == "1";
}

}  // namespace ferry::testing

// Skips the test when what it needs is missing, or fails it where the machine must have it.
#define FERRY_SKIP_UNLESS_PREPARED(message)                \
  do {                                                     \
    if (::ferry::testing::PrerequisitesRequired()) {       \
      GTEST_FAIL() << "missing prerequisite: " << message; \
    }                                                      \
    GTEST_SKIP() << message;                               \
  } while (false)
