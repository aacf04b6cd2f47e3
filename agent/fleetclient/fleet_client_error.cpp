#include <string>

#include "ferry/fleetclient/fleet_client.hpp"

namespace ferry::fleetclient {
namespace {

class FleetClientCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry.fleetclient"; }
  std::string message(int value) const override {
    switch (static_cast<FleetClientErrc>(value)) {
      case FleetClientErrc::kUnauthorized:
        return "device token refused";
      case FleetClientErrc::kForbidden:
        return "forbidden";
      case FleetClientErrc::kRateLimited:
        return "rate limited";
      case FleetClientErrc::kServer:
        return "server error";
      case FleetClientErrc::kRejected:
        return "request rejected";
      case FleetClientErrc::kMalformed:
        return "malformed reply";
      case FleetClientErrc::kTransport:
        return "transport error";
      case FleetClientErrc::kTimeout:
        return "timed out";
      case FleetClientErrc::kBadUrl:
        return "bad URL";
    }
    return "unknown fleet client error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& FleetClientCategory() noexcept {
  static const FleetClientCategoryImpl category;
  return category;
}

std::error_code make_error_code(FleetClientErrc e) noexcept {
  return {static_cast<int>(e), FleetClientCategory()};
}

}  // namespace ferry::fleetclient
