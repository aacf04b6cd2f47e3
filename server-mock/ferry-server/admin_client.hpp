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

class AdminClient {
 public:
  AdminClient(std::string base_url, std::string token)
      : base_url_(std::move(base_url)), token_(std::move(token)) {}

  // `method` on base_url + `path`, with `body` as JSON when given. Never throws.
  AdminReply Call(const std::string& method, const std::string& path,
                  const std::optional<nlohmann::json>& body = std::nullopt) const;

 private:
  std::string base_url_;
  std::string token_;
};

}  // namespace ferry::server
