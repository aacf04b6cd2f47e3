#include <string>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

class DeltaCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry.delta"; }
  std::string message(int value) const override {
    switch (static_cast<DeltaErrc>(value)) {
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
    return "unknown delta error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& DeltaCategory() noexcept {
  static const DeltaCategoryImpl category;
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
