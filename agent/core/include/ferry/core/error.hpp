// Error values: a machine-readable code (std::error_code, one category per module) and a message
// for people, with context added at every hop ("layer sha256:ab…: HTTP 503").
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace ferry {

// Codes shared by all modules for conditions that are not specific to one of them.
enum class Errc {
  kInvalidArgument = 1,  // input from outside (config, CLI, request) is malformed
  kNotFound,             // the named thing does not exist
  kAlreadyExists,        // the named thing exists and may not be replaced
  kIo,                   // an OS call on files or sockets failed
  kCorrupt,              // stored data failed a check (hash, integrity, format)
  kUnavailable,          // a peer or service cannot be reached now; retrying may help
  kTimeout,              // a deadline passed
  kCancelled,            // the operation was cancelled by its owner
  kPermissionDenied,     // refused by policy or the OS
  kNoSpace,              // not enough disk space or inodes
  kUnsupported,          // a valid request we do not implement
  kLimitExceeded,        // a configured bound (size, count, depth) was reached
  kFailedPrecondition,   // the system is not in a state where this is allowed
};

const std::error_category& CoreCategory() noexcept;
std::error_code make_error_code(
    Errc e) noexcept;  // NOLINT(readability-identifier-naming): ADL hook

class Error {
 public:
  Error(std::error_code code, std::string message) : code_(code), message_(std::move(message)) {}

  const std::error_code& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // True when the code equals the given enum value of any category.
  template <class E>
  requires std::is_error_code_enum_v<E>
  bool Is(E e) const noexcept { return code_ == make_error_code(e); }

  // Prefixes the message with what was being done: "opening state.db: disk I/O error".
  Error WithContext(std::string_view context) const& {
    return Error(code_, std::string(context) + ": " + message_);
  }
  Error WithContext(std::string_view context) && {
    message_.insert(0, std::string(context) + ": ");
    return std::move(*this);
  }

  // The message, followed by the code's own text when the message does not already end in it.
  std::string String() const;

 private:
  std::error_code code_;
  std::string message_;
};

template <class E>
requires std::is_error_code_enum_v<E> Error MakeError(E code, std::string message) {
  return Error(make_error_code(code), std::move(message));
}

// An error from errno (or another errno value) for the OS call `what`: "open /x: No such file".
Error ErrnoError(std::string_view what, int errnum);
Error ErrnoError(std::string_view what);  // uses the current errno

// An error from a std::error_code returned by std::filesystem and similar APIs.
Error SystemError(std::string_view what, std::error_code ec);

}  // namespace ferry

template <>
struct std::is_error_code_enum<ferry::Errc> : std::true_type {};
