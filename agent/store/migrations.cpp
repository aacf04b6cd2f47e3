#include "migrations.hpp"

#include <array>
#include <string>

#include "ferry/store/state_store.hpp"

namespace ferry::store {
namespace {

constexpr std::array kMigrations = {
    Migration{1, "trusted metadata", R"sql(
CREATE TABLE trusted_metadata (
  role       TEXT PRIMARY KEY,
  version    INTEGER NOT NULL CHECK (version >= 0),
  expires    INTEGER NOT NULL,           -- unix seconds
  raw        BLOB NOT NULL,              -- the exact bytes received and verified
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE trust_state (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
)sql"},
    Migration{2, "layers and downloads", R"sql(
CREATE TABLE layers (
  diff_id    TEXT PRIMARY KEY,
  state      TEXT NOT NULL CHECK (state IN ('staging', 'complete')),
  size       INTEGER NOT NULL CHECK (size >= 0),
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE downloads (
  digest      TEXT PRIMARY KEY,
  url         TEXT NOT NULL,
  bytes_done  INTEGER NOT NULL CHECK (bytes_done >= 0),
  total_bytes INTEGER NOT NULL CHECK (total_bytes >= 0),
  validator   TEXT NOT NULL DEFAULT '',
  updated_at  INTEGER NOT NULL
) STRICT;
)sql"},
    Migration{3, "apps, revisions, journal and outbox", R"sql(
CREATE TABLE apps (
  name              TEXT PRIMARY KEY,
  current_revision  TEXT,
  previous_revision TEXT,
  created_at        INTEGER NOT NULL
) STRICT;
CREATE TABLE revisions (
  id              TEXT PRIMARY KEY,
  app             TEXT NOT NULL REFERENCES apps(name),
  version         TEXT NOT NULL,
  manifest_digest TEXT NOT NULL,
  state           TEXT NOT NULL,
  bad             INTEGER NOT NULL DEFAULT 0 CHECK (bad IN (0, 1)),
  reason          TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX revisions_by_app ON revisions(app, created_at);
CREATE TABLE revision_steps (
  revision_id TEXT NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,
  step        TEXT NOT NULL,
  started_at  INTEGER NOT NULL,              -- unix milliseconds
  finished_at INTEGER,
  PRIMARY KEY (revision_id, step)
) STRICT;
CREATE TABLE revision_layers (
  revision_id TEXT NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  diff_id     TEXT NOT NULL REFERENCES layers(diff_id),
  PRIMARY KEY (revision_id, position)
) STRICT;
CREATE INDEX revision_layers_by_layer ON revision_layers(diff_id);
CREATE TABLE journal (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  app           TEXT NOT NULL REFERENCES apps(name),
  from_revision TEXT,
  to_revision   TEXT,
  step          TEXT NOT NULL,
  attempt       INTEGER NOT NULL DEFAULT 1,
  started_at    INTEGER NOT NULL,
  finished      INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1))
) STRICT;
CREATE TABLE outbox (
  sequence   INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT NOT NULL,
  app        TEXT NOT NULL,
  payload    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  delivered  INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))
) STRICT;
CREATE INDEX outbox_pending ON outbox(delivered, sequence);
)sql"},
    Migration{4, "revision start attempts and interruptions", R"sql(
ALTER TABLE revisions ADD COLUMN start_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE revisions ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
)sql"},
    Migration{5, "probation after the commit", R"sql(
ALTER TABLE revisions ADD COLUMN probation_until INTEGER;  -- unix milliseconds; NULL: none
)sql"},
    Migration{6, "bad revisions retried on purpose", R"sql(
ALTER TABLE revisions ADD COLUMN retried TEXT NOT NULL DEFAULT '';  -- who, and what it had failed
)sql"},
    Migration{7, "backoff of failed fleet releases", R"sql(
CREATE TABLE release_backoff (
  key      TEXT PRIMARY KEY,             -- app@version#deployment
  failures INTEGER NOT NULL CHECK (failures >= 0),
  retry_at INTEGER NOT NULL,             -- unix milliseconds
  reported TEXT NOT NULL DEFAULT ''      -- the failure last sent to the server
) STRICT;
)sql"},
    Migration{8, "ends counted within probation", R"sql(
ALTER TABLE revisions ADD COLUMN probation_exits INTEGER NOT NULL DEFAULT 0;
)sql"},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

Result<Database> OpenDatabase(const std::filesystem::path& path) {
  return Database::Open(path, sqlite::ErrorCodes{make_error_code(StoreErrc::kOpenFailed),
                                                 make_error_code(StoreErrc::kQueryFailed),
                                                 make_error_code(StoreErrc::kTooNew),
                                                 make_error_code(StoreErrc::kMigrationFailed)});
}

Status Migrate(Database& db, int target) {
  return sqlite::Migrate(db, kMigrations, target, "ferryd");
}

}  // namespace ferry::store
