#include "ferry/httpd/error.hpp"

#include <string>

#include "ferry/core/error_category.hpp"

namespace ferry::httpd {
namespace {

std::string Describe(HttpdErrc e) {
  switch (e) {
    case HttpdErrc::kBadPath:
      return "bad request path";
    case HttpdErrc::kBadFaultSpec:
      return "bad fault specification";
    case HttpdErrc::kBadListenAddress:
      return "bad listen address";
    case HttpdErrc::kBadRoute:
      return "bad route";
    case HttpdErrc::kListen:
      return "cannot listen";
    case HttpdErrc::kBadRoot:
      return "cannot open the directory to serve";
    case HttpdErrc::kTls:
      return "unusable TLS configuration";
  }
  return {};
}

}  // namespace

const std::error_category& HttpdCategory() noexcept {
  static const EnumErrorCategory<HttpdErrc> category("ferry.httpd", Describe);
  return category;
}

std::error_code make_error_code(HttpdErrc e) noexcept {
  return {static_cast<int>(e), HttpdCategory()};
}

}  // namespace ferry::httpd
