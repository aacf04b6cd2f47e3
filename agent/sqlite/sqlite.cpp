#include "ferry/sqlite/sqlite.hpp"

#include <sqlite3.h>

namespace ferry::sqlite {

Result<Database> Database::Open(const std::filesystem::path& path, ErrorCodes codes) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Fail(Error(codes.open_failed, "open " + path.string() + ": " + msg));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  return Database(db, path, codes);
}

std::int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int Database::Changes() const { return sqlite3_changes(db_); }

Database::~Database() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
  }
}

Error Database::LastError(std::string_view what) const {
  return Error(codes_.query_failed,
               path_.filename().string() + ": " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status Database::Exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return Fail(Error(codes_.query_failed, path_.filename().string() + ": " + msg));
  }
  return Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return Fail(LastError("prepare"));
  }
  return Statement(this, stmt);
}

Result<Statement> Database::FirstRow(std::string_view sql) {
  auto row = QueryRow(sql);
  if (!row) {
    return Fail(row.error());
  }
  if (!*row) {
    return Fail(Error(codes_.query_failed, "no row for " + std::string(sql)));
  }
  return std::move(**row);
}

Result<std::int64_t> Database::QueryInt(std::string_view sql) {
  auto row = FirstRow(sql);
  if (!row) {
    return Fail(row.error());
  }
  return row->Int(0);
}

Result<std::string> Database::QueryText(std::string_view sql) {
  auto row = FirstRow(sql);
  if (!row) {
    return Fail(row.error());
  }
  return row->Text(0);
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_finalize(stmt_);
  }
}

Statement& Statement::Bind(int index, std::string_view text) {
  // An empty view may have no data pointer, which SQLite would bind as NULL: bind "" instead.
  bind_failed_ |= sqlite3_bind_text(stmt_, index, text.data() != nullptr ? text.data() : "",
                                    static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK;
  return *this;
}

Statement& Statement::Bind(int index, std::int64_t value) {
  bind_failed_ |= sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK;
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  bind_failed_ |= sqlite3_bind_double(stmt_, index, value) != SQLITE_OK;
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  bind_failed_ |= sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                                    SQLITE_TRANSIENT) != SQLITE_OK;
  return *this;
}

Statement& Statement::BindNull(int index) {
  bind_failed_ |= sqlite3_bind_null(stmt_, index) != SQLITE_OK;
  return *this;
}

Statement& Statement::BindOptional(int index, const std::optional<std::string>& text) {
  return text ? Bind(index, std::string_view(*text)) : BindNull(index);
}

Result<bool> Statement::Step() {
  if (bind_failed_) {
    return Fail(db_->LastError("bind"));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return Fail(db_->LastError(sqlite3_sql(stmt_)));
}

Status Statement::Run() {
  auto r = Step();
  if (!r) {
    return Fail(r.error());
  }
  return Ok();
}

Status Statement::ForEachRow(const std::function<void(const Statement& row)>& on_row) {
  for (;;) {
    auto row = Step();
    if (!row) {
      return Fail(row.error());
    }
    if (!*row) {
      return Ok();
    }
    on_row(*this);
  }
}

std::int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::string Statement::Text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p),
                                    static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
                      : std::string();
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
    return std::nullopt;
  }
  return Text(column);
}

std::string Statement::Blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  return p != nullptr ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n))
                      : std::string();
}

Status Migrate(Database& db, std::span<const Migration> migrations, int target,
               std::string_view program) {
  auto current = db.QueryInt("PRAGMA user_version");
  if (!current) {
    return Fail(current.error().WithContext("reading schema version"));
  }
  if (*current > migrations.back().version) {
    return Fail(Error(db.codes().too_new, db.path().string() + " has schema version " +
                                              std::to_string(*current) + ", newer than this " +
                                              std::string(program) + " knows (" +
                                              std::to_string(migrations.back().version) +
                                              "); refusing to open it rather than lose data"));
  }
  if (*current >= target) {
    return Ok();
  }
  if (auto st = db.Exec("BEGIN IMMEDIATE"); !st) {
    return Fail(Error(db.codes().migration_failed, st.error().message()));
  }
  for (const Migration& m : migrations) {
    if (m.version <= *current || m.version > target) {
      continue;
    }
    auto st = db.Exec(m.sql);
    if (st) {
      st = db.Exec("PRAGMA user_version = " + std::to_string(m.version));
    }
    if (!st) {
      (void)db.Exec("ROLLBACK");
      return Fail(Error(db.codes().migration_failed, "migration " + std::to_string(m.version) +
                                                         " (" + std::string(m.name) +
                                                         "): " + st.error().message()));
    }
  }
  if (auto st = db.Exec("COMMIT"); !st) {
    (void)db.Exec("ROLLBACK");
    return Fail(Error(db.codes().migration_failed, st.error().message()));
  }
  return Ok();
}

}  // namespace ferry::sqlite
