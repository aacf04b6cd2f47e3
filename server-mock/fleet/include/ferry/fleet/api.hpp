// The fleet API's HTTP routes (docs/fleet-api.md), added to ferry-server's Router.
//
// Device routes (/v1/device/...) take a device's bearer token and only ever touch that device's
// data; operator routes (/v1/devices..., /v1/deployments...) take the operator token. A missing,
// unknown or revoked token gets 401; a valid token on the other side's routes gets 403. Requests
// are rate-limited per device, for the operator, and (for failed authentication) per peer
// address: 429 with Retry-After. Bodies above a route's limit get 413 before they are read.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/fleet/fleet.hpp"
#include "ferry/fleet/rate_limiter.hpp"
#include "ferry/httpd/router.hpp"

namespace ferry::fleet {

struct ApiOptions {
  std::string operator_token;  // required, non-empty
  RateLimit device_limit{1.0, 30};
  RateLimit operator_limit{50.0, 200};
  RateLimit unauthenticated_limit{1.0, 10};  // per peer address, counted on failed tokens
  // Events each device may report, per second sustained and at once (one token per event).
  RateLimit device_event_limit{1.0, 1000};
  std::size_t events_body_limit = 1u << 20;
  std::size_t inventory_body_limit = 256u << 10;
  std::size_t operator_body_limit = 1u << 20;
  std::size_t events_per_batch = 1000;
};

// Whether `token` can serve as the operator token: at least 128 bits of entropy by a
// conservative estimate (4 bits a character when it is all hex digits, 6 otherwise, so at least
// 32 hex digits or 22 other characters) and at least 8 distinct characters. Errc::kInvalidArgument
// naming the shortfall and a generator (`openssl rand -hex 32`) otherwise.
Status CheckOperatorToken(std::string_view token);

// Adds the routes. `fleet` and `clock` must outlive the router's use.
Status AddFleetRoutes(httpd::Router& router, std::shared_ptr<Fleet> fleet, Clock& clock,
                      ApiOptions options);

}  // namespace ferry::fleet
