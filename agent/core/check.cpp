#include "ferry/core/check.hpp"

#include <cstdio>
#include <cstdlib>

#include "ferry/core/log.hpp"

namespace ferry::detail {

void CheckFailed(const char* condition, std::source_location where) noexcept {
  // Write to stderr directly as well: the logger may be the thing that is broken.
  std::fprintf(stderr, "FERRY_CHECK failed: %s at %s:%u (%s)\n", condition, where.file_name(),
               static_cast<unsigned>(where.line()), where.function_name());
  std::fflush(stderr);
  std::abort();
}

}  // namespace ferry::detail
