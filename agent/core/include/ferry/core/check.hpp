// FERRY_CHECK: a broken invariant of Ferry's own code. It logs and aborts; systemd restarts ferryd
// and start-up recovery replays the journal. Never use it on data that came from outside.
#pragma once

#include <source_location>

namespace ferry::detail {
[[noreturn]] void CheckFailed(const char* condition, std::source_location where) noexcept;
}  // namespace ferry::detail

#define FERRY_CHECK(cond)                                                     \
  do {                                                                        \
    if (!(cond)) [[unlikely]] {                                               \
      ::ferry::detail::CheckFailed(#cond, ::std::source_location::current()); \
    }                                                                         \
  } while (false)
