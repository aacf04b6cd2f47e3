#include <string>

#include "ferry/core/error_category.hpp"
#include "ferry/fleetclient/fleet_client.hpp"

namespace ferry::fleetclient {
namespace {

std::string Describe(FleetClientErrc e) {
  switch (e) {
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
  return {};
}

}  // namespace

const std::error_category& FleetClientCategory() noexcept {
  static const EnumErrorCategory<FleetClientErrc> category("ferry.fleetclient", Describe);
  return category;
}

std::error_code make_error_code(FleetClientErrc e) noexcept {
  return {static_cast<int>(e), FleetClientCategory()};
}

}  // namespace ferry::fleetclient
