#include "ferry/httpd/error.hpp"

#include <string>

namespace ferry::httpd {
namespace {

class HttpdCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry.httpd"; }
  std::string message(int value) const override {
    switch (static_cast<HttpdErrc>(value)) {
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
    return "unknown error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& HttpdCategory() noexcept {
  static const HttpdCategoryImpl category;
  return category;
}

std::error_code make_error_code(HttpdErrc e) noexcept {
  return {static_cast<int>(e), HttpdCategory()};
}

}  // namespace ferry::httpd
