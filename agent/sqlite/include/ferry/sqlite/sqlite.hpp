// A thin RAII layer over the SQLite C API and a numbered-migration runner, shared by the device's
// state store and the fleet server's database. Each user names the error codes it reports, so
// their callers keep branching on the store's or the fleet's own codes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "ferry/core/result.hpp"

// SQLite's handles, declared here so that <sqlite3.h> stays inside this module.
struct sqlite3;
struct sqlite3_stmt;

namespace ferry::sqlite {

class Statement;

// The codes a Database reports, from its user's own error category.
struct ErrorCodes {
  std::error_code open_failed;       // the file cannot be opened or is not a database
  std::error_code query_failed;      // a statement failed
  std::error_code too_new;           // the schema is newer than this program knows
  std::error_code migration_failed;  // a migration failed; the database is unchanged
};

class Database {
 public:
  static Result<Database> Open(const std::filesystem::path& path, ErrorCodes codes);
  Database(Database&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), path_(other.path_), codes_(other.codes_) {}
  Database& operator=(Database&&) = delete;
  Database(const Database&) = delete;
  ~Database();

  // Runs SQL without results (may hold several statements).
  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  // Prepares `sql`, binds `params` to ?1, ?2, … in order (text or integers) and runs it: for
  // statements that return no rows.
  template <class... Params>
  Status Execute(std::string_view sql, const Params&... params);
  // Prepares `sql`, binds `params` as Execute does and steps once: the statement on its first row,
  // or nullopt when the query returns none.
  template <class... Params>
  Result<std::optional<Statement>> QueryRow(std::string_view sql, const Params&... params);
  // Prepares `sql`, binds `params` as Execute does and calls `on_row` with the statement on each
  // row in turn; fails when a step fails.
  template <class... Params>
  Status ForEachRow(std::string_view sql, const std::function<void(const Statement& row)>& on_row,
                    const Params&... params);
  // A single integer or text from a one-row query, e.g. PRAGMA user_version.
  Result<std::int64_t> QueryInt(std::string_view sql);
  Result<std::string> QueryText(std::string_view sql);

  std::int64_t LastInsertRowId() const;
  int Changes() const;
  Error LastError(std::string_view what) const;
  const std::filesystem::path& path() const { return path_; }
  const ErrorCodes& codes() const { return codes_; }

 private:
  // The statement on the first row of `sql`; fails with query_failed when there is none.
  Result<Statement> FirstRow(std::string_view sql);

  Database(sqlite3* db, std::filesystem::path path, ErrorCodes codes)
      : db_(db), path_(std::move(path)), codes_(codes) {}
  sqlite3* db_;
  std::filesystem::path path_;
  ErrorCodes codes_;
};

class Statement {
 public:
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, std::int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);
  Statement& BindOptional(int index, const std::optional<std::string>& text);

  // Advances: true when a row is available, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();
  // Steps through the remaining rows, calling `on_row` with the statement on each; fails when a
  // step fails.
  Status ForEachRow(const std::function<void(const Statement& row)>& on_row);

  std::int64_t Int(int column) const;
  double Double(int column) const;
  bool IsNull(int column) const;
  std::string Text(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  std::string Blob(int column) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Database* db_;
  sqlite3_stmt* stmt_;
  bool bind_failed_ = false;
};

template <class... Params>
Status Database::Execute(std::string_view sql, const Params&... params) {
  auto stmt = Prepare(sql);
  if (!stmt) {
    return Fail(stmt.error());
  }
  int index = 0;
  (stmt->Bind(++index, params), ...);
  return stmt->Run();
}

template <class... Params>
Result<std::optional<Statement>> Database::QueryRow(std::string_view sql, const Params&... params) {
  auto stmt = Prepare(sql);
  if (!stmt) {
    return Fail(stmt.error());
  }
  int index = 0;
  (stmt->Bind(++index, params), ...);
  auto row = stmt->Step();
  if (!row) {
    return Fail(row.error());
  }
  if (!*row) {
    return std::optional<Statement>();
  }
  return std::optional<Statement>(std::move(*stmt));
}

template <class... Params>
Status Database::ForEachRow(std::string_view sql,
                            const std::function<void(const Statement& row)>& on_row,
                            const Params&... params) {
  auto stmt = Prepare(sql);
  if (!stmt) {
    return Fail(stmt.error());
  }
  int index = 0;
  (stmt->Bind(++index, params), ...);
  return stmt->ForEachRow(on_row);
}

struct Migration {
  int version;  // PRAGMA user_version after this migration
  std::string_view name;
  std::string_view sql;
};

// Brings `db` from its user_version to `target` with `migrations` (numbered from 1, in order) in
// one transaction. Fails with codes().too_new when the database is newer than the last migration
// (`program` names who refuses it), and with codes().migration_failed, leaving the database
// unchanged, when a step fails.
Status Migrate(Database& db, std::span<const Migration> migrations, int target,
               std::string_view program);

}  // namespace ferry::sqlite