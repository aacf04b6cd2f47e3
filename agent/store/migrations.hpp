// The schema of the state database as a numbered list of migrations. A migration, once released,
// never changes: a new need is a new migration, and MigrationTest proves every older database
// reaches the latest schema with its data.
#pragma once

#include <span>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/sqlite/sqlite.hpp"

namespace ferry::store {

using sqlite::Database;
using sqlite::Migration;
using sqlite::Statement;

// Opens the database file with this module's error codes.
Result<Database> OpenDatabase(const std::filesystem::path& path);

std::span<const Migration> Migrations();

// Brings `db` from its user_version to `target` in one transaction; fails with kTooNew when the
// database is newer than this build, and leaves the database unchanged on any failure.
Status Migrate(Database& db, int target);

}  // namespace ferry::store
