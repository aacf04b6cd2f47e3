// Error codes of the HTTP server library (ferry::httpd).
#pragma once

#include <system_error>

namespace ferry::httpd {

enum class HttpdErrc {
  kBadPath = 1,       // a request target is malformed or would leave the served root
  kBadFaultSpec,      // a fault specification does not parse
  kBadListenAddress,  // a listen address is not ADDR:PORT
  kBadRoute,          // a route pattern is malformed or clashes with another
  kListen,            // binding or listening on a socket failed
  kBadRoot,           // the directory to serve cannot be opened
  kTls,               // the TLS certificate, key or client CA cannot be loaded or do not match
};

const std::error_category& HttpdCategory() noexcept;
std::error_code make_error_code(HttpdErrc e) noexcept;  // NOLINT(readability-identifier-naming)

}  // namespace ferry::httpd

template <>
struct std::is_error_code_enum<ferry::httpd::HttpdErrc> : std::true_type {};
