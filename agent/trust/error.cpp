#include "ferry/trust/error.hpp"

#include <string>

namespace ferry::trust {
namespace {

class TrustCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry.trust"; }
  std::string message(int value) const override {
    switch (static_cast<TrustErrc>(value)) {
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
    return "unknown trust error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& TrustCategory() noexcept {
  static const TrustCategoryImpl category;
  return category;
}

std::error_code make_error_code(TrustErrc e) noexcept {
  return {static_cast<int>(e), TrustCategory()};
}

}  // namespace ferry::trust
