#include <string>

#include "ferry/fetch/http_client.hpp"

namespace ferry::fetch {
namespace {

class FetchCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry.fetch"; }
  std::string message(int value) const override {
    switch (static_cast<FetchErrc>(value)) {
      case FetchErrc::kNotFound:
        return "not found";
      case FetchErrc::kHttpStatus:
        return "HTTP error status";
      case FetchErrc::kTooLarge:
        return "response too large";
      case FetchErrc::kTransport:
        return "transport error";
      case FetchErrc::kTimeout:
        return "timed out";
      case FetchErrc::kBadUrl:
        return "bad URL";
      case FetchErrc::kDigestMismatch:
        return "digest mismatch";
      case FetchErrc::kBadRange:
        return "unusable partial response";
      case FetchErrc::kCancelled:
        return "cancelled";
      case FetchErrc::kIo:
        return "local file error";
    }
    return "unknown fetch error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& FetchCategory() noexcept {
  static const FetchCategoryImpl category;
  return category;
}

std::error_code make_error_code(FetchErrc e) noexcept {
  return {static_cast<int>(e), FetchCategory()};
}

}  // namespace ferry::fetch
