#include "ferry/trust/error.hpp"

#include <string>

#include "ferry/core/error_category.hpp"

namespace ferry::trust {
namespace {

std::string Describe(TrustErrc e) {
  switch (e) {
    case TrustErrc::kMalformed:
      return "malformed metadata";
    case TrustErrc::kBadSignature:
      return "signature threshold not met";
    case TrustErrc::kRollback:
      return "rollback detected";
    case TrustErrc::kExpired:
      return "metadata expired";
    case TrustErrc::kHashMismatch:
      return "hash or length mismatch";
    case TrustErrc::kUnsupported:
      return "unsupported algorithm";
    case TrustErrc::kTargetNotFound:
      return "target not found";
    case TrustErrc::kNotTrusted:
      return "no trusted root";
    case TrustErrc::kLimitExceeded:
      return "limit exceeded";
  }
  return {};
}

}  // namespace

const std::error_category& TrustCategory() noexcept {
  static const EnumErrorCategory<TrustErrc> category("ferry.trust", Describe);
  return category;
}

std::error_code make_error_code(TrustErrc e) noexcept {
  return {static_cast<int>(e), TrustCategory()};
}

}  // namespace ferry::trust
