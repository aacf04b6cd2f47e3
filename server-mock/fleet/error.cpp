#include "ferry/fleet/error.hpp"

#include <string>

#include "ferry/core/error_category.hpp"

namespace ferry::fleet {
namespace {

std::string Describe(FleetErrc e) {
  switch (e) {
    case FleetErrc::kBadRequest:
      return "bad request";
    case FleetErrc::kUnauthorized:
      return "unauthorized";
    case FleetErrc::kForbidden:
      return "forbidden";
    case FleetErrc::kNotFound:
      return "not found";
    case FleetErrc::kConflict:
      return "conflict";
    case FleetErrc::kOpenFailed:
      return "cannot open the fleet database";
    case FleetErrc::kTooNew:
      return "fleet database schema too new";
    case FleetErrc::kMigrationFailed:
      return "fleet database migration failed";
    case FleetErrc::kQueryFailed:
      return "fleet database query failed";
  }
  return {};
}

}  // namespace

const std::error_category& FleetCategory() noexcept {
  static const EnumErrorCategory<FleetErrc> category("fleet", Describe);
  return category;
}

std::error_code make_error_code(FleetErrc e) noexcept {
  return {static_cast<int>(e), FleetCategory()};
}

}  // namespace ferry::fleet
