#include "ferry/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include "ferry/core/error_category.hpp"

namespace ferry {
namespace {

std::string Describe(Errc e) {
  switch (e) {
    case Errc::kInvalidArgument:
      return "invalid argument";
    case Errc::kNotFound:
      return "not found";
    case Errc::kAlreadyExists:
      return "already exists";
    case Errc::kIo:
      return "I/O error";
    case Errc::kCorrupt:
      return "corrupt data";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kTimeout:
      return "timed out";
    case Errc::kCancelled:
      return "cancelled";
    case Errc::kPermissionDenied:
      return "permission denied";
    case Errc::kNoSpace:
      return "no space left";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kLimitExceeded:
      return "limit exceeded";
    case Errc::kFailedPrecondition:
      return "failed precondition";
  }
  return {};
}

}  // namespace

const std::error_category& CoreCategory() noexcept {
  static const EnumErrorCategory<Errc> category("ferry", Describe);
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), CoreCategory()}; }

std::string Error::String() const {
  if (message_.empty()) {
    return code_.message();
  }
  return message_;
}

Error ErrnoError(std::string_view what, int errnum) {
  return Error(std::error_code(errnum, std::generic_category()),
               std::string(what) + ": " + std::strerror(errnum));
}

Error ErrnoError(std::string_view what) { return ErrnoError(what, errno); }

Error SystemError(std::string_view what, std::error_code ec) {
  return Error(ec, std::string(what) + ": " + ec.message());
}

}  // namespace ferry
