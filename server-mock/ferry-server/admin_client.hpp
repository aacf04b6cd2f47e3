// The admin CLI's HTTP client: one JSON request to the fleet API with the operator token.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ferry::server {

struct AdminReply {
  bool reached = false;  // false: no HTTP answer (refused, unresolved, timed out)
  long status = 0;
  nlohmann::json body;  // the parsed JSON body, or null
  std::string error;    // what went wrong, for people
};

// TLS files for an https URL (PEM). The server is always verified: against ca_file when given,
// else the system's CAs. cert_file and key_file: a client certificate for mutual TLS.
struct AdminTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

class AdminClient {
 public:
  AdminClient(std::string base_url, std::string token, AdminTls tls = {})
      : base_url_(std::move(base_url)), token_(std::move(token)), tls_(std::move(tls)) {}

  // `method` on base_url + `path`, with `body` as JSON when given. Never throws.
  AdminReply Call(const std::string& method, const std::string& path,
                  const std::optional<nlohmann::json>& body = std::nullopt) const;

 private:
  std::string base_url_;
  std::string token_;
  AdminTls tls_;
};

}  // namespace ferry::server
