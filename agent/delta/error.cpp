#include <string>

#include "ferry/core/error_category.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

std::string Describe(DeltaErrc e) {
  switch (e) {
    case DeltaErrc::kCorrupt:
      return "corrupt delta";
    case DeltaErrc::kUnsupported:
      return "unsupported delta";
    case DeltaErrc::kLimitExceeded:
      return "delta exceeds a format limit";
    case DeltaErrc::kOldFileMismatch:
      return "old layer does not match the delta";
    case DeltaErrc::kPathEscape:
      return "path escapes the old layer";
    case DeltaErrc::kHashMismatch:
      return "rebuilt layer hash mismatch";
    case DeltaErrc::kBadInput:
      return "bad encoder input";
  }
  return {};
}

}  // namespace

const std::error_category& DeltaCategory() noexcept {
  static const EnumErrorCategory<DeltaErrc> category("ferry.delta", Describe);
  return category;
}

std::error_code make_error_code(DeltaErrc e) noexcept {
  return {static_cast<int>(e), DeltaCategory()};
}

std::string HexDigest(const Sha256& digest) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace ferry::delta
