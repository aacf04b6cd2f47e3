// Error codes of the fleet service (ferry::fleet): each maps to one HTTP status in the API.
#pragma once

#include <system_error>

namespace ferry::fleet {

enum class FleetErrc {
  kBadRequest = 1,   // a field is missing or malformed (HTTP 400)
  kUnauthorized,     // no token, an unknown token or a revoked device's token (401)
  kForbidden,        // a valid token used where it has no rights (403)
  kNotFound,         // no such device or deployment (404)
  kConflict,         // exists already, or not allowed in the current state (409)
  kOpenFailed,       // the database cannot be opened or is not a database
  kTooNew,           // the schema is newer than this ferry-server knows
  kMigrationFailed,  // a migration step failed; the database is unchanged
  kQueryFailed,      // a statement failed (disk full, I/O error, constraint)
};

const std::error_category& FleetCategory() noexcept;
std::error_code make_error_code(FleetErrc e) noexcept;  // NOLINT(readability-identifier-naming)

}  // namespace ferry::fleet

template <>
struct std::is_error_code_enum<ferry::fleet::FleetErrc> : std::true_type {};
