// Error codes of the trust module (TUF metadata verification). Code branches on these; people read
// the message, which names the role and what failed.
#pragma once

#include <system_error>

namespace ferry::trust {

enum class TrustErrc {
  kMalformed = 1,   // not valid JSON, or not valid metadata of the expected type
  kBadSignature,    // signature threshold not met
  kRollback,        // a version lower than (or inconsistent with) the trusted one
  kExpired,         // metadata expired at the effective time
  kHashMismatch,    // bytes do not match the signed hash or length
  kUnsupported,     // an unknown hash algorithm or key type where one was required
  kTargetNotFound,  // no trusted targets metadata lists the target
  kNotTrusted,      // no trusted root is available (client not initialised)
  kLimitExceeded,   // a configured bound (rotations, delegations, size) was reached
};

const std::error_category& TrustCategory() noexcept;
std::error_code make_error_code(TrustErrc e) noexcept;  // NOLINT(readability-identifier-naming)

}  // namespace ferry::trust

template <>
struct std::is_error_code_enum<ferry::trust::TrustErrc> : std::true_type {};
