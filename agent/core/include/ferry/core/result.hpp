// Result<T> and Status: every fallible call in Ferry returns one of these. They are std::expected
// with [[nodiscard]], so an ignored error is a compile error under -Werror.
#pragma once

#include <expected>
#include <utility>

#include "ferry/core/error.hpp"

namespace ferry {

template <class T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(std::expected<T, Error> other)  // NOLINT(google-explicit-constructor)
      : std::expected<T, Error>(std::move(other)) {}
};

using Status = Result<void>;

inline Status Ok() { return {}; }

// Builds a failed Result of any type: `return Fail(Errc::kNotFound, "no app " + name);`
template <class E>
requires std::is_error_code_enum_v<E> std::unexpected<Error> Fail(E code, std::string message) {
  return std::unexpected(MakeError(code, std::move(message)));
}
inline std::unexpected<Error> Fail(Error error) { return std::unexpected(std::move(error)); }

}  // namespace ferry

// Returns the error of `expr` (a Result) from the enclosing function, with context added.
#define FERRY_TRY_STATUS(expr, context)                                               \
  do {                                                                                \
    if (auto ferry_try_r_ = (expr); !ferry_try_r_) {                                  \
      return ::std::unexpected(std::move(ferry_try_r_.error()).WithContext(context)); \
    }                                                                                 \
  } while (false)
