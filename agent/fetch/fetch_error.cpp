#include <string>

#include "ferry/core/error_category.hpp"
#include "ferry/fetch/http_client.hpp"

namespace ferry::fetch {
namespace {

std::string Describe(FetchErrc e) {
  switch (e) {
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
  return {};
}

}  // namespace

const std::error_category& FetchCategory() noexcept {
  static const EnumErrorCategory<FetchErrc> category("ferry.fetch", Describe);
  return category;
}

std::error_code make_error_code(FetchErrc e) noexcept {
  return {static_cast<int>(e), FetchCategory()};
}

}  // namespace ferry::fetch
