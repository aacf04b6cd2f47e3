#include "ferry/fleet/error.hpp"

#include <string>

namespace ferry::fleet {
namespace {

class FleetCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "fleet"; }
  std::string message(int value) const override {
    switch (static_cast<FleetErrc>(value)) {
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
    return "unknown fleet error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& FleetCategory() noexcept {
  static const FleetCategoryImpl category;
  return category;
}

std::error_code make_error_code(FleetErrc e) noexcept {
  return {static_cast<int>(e), FleetCategory()};
}

}  // namespace ferry::fleet
