#include "migrations.hpp"

#include <array>
#include <string>

#include "ferry/fleet/error.hpp"

namespace ferry::fleet {
namespace {

// Times are unix seconds of the server's wall clock (ferry::Clock::WallNow).
constexpr std::array kMigrations = {
    Migration{1, "devices, events and inventory", R"sql(
CREATE TABLE devices (
  id            TEXT PRIMARY KEY,
  token_hash    TEXT NOT NULL UNIQUE,    -- hex sha256 of the bearer token; the token is never kept
  created_at    INTEGER NOT NULL,
  revoked_at    INTEGER,
  last_seen_at  INTEGER,
  inventory     TEXT,                    -- the last inventory, as received (a JSON object)
  inventory_at  INTEGER
) STRICT;
CREATE TABLE device_tags (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  tag       TEXT NOT NULL,
  PRIMARY KEY (device_id, tag)
) STRICT, WITHOUT ROWID;
CREATE INDEX device_tags_by_tag ON device_tags(tag, device_id);
CREATE TABLE events (
  device_id     TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  sequence      INTEGER NOT NULL CHECK (sequence > 0),
  kind          TEXT NOT NULL,
  app           TEXT NOT NULL,
  version       TEXT NOT NULL DEFAULT '',
  deployment_id TEXT NOT NULL DEFAULT '',
  reason        TEXT NOT NULL DEFAULT '',
  device_time   INTEGER,                 -- the device's own clock, as reported
  received_at   INTEGER NOT NULL,
  PRIMARY KEY (device_id, sequence)
) STRICT, WITHOUT ROWID;
)sql"},
    Migration{2, "deployments", R"sql(
CREATE TABLE deployments (
  seq                INTEGER PRIMARY KEY AUTOINCREMENT,
  id                 TEXT NOT NULL UNIQUE,  -- "d-<seq>"
  app                TEXT NOT NULL,
  version            TEXT NOT NULL,
  downgrade          INTEGER NOT NULL CHECK (downgrade IN (0, 1)),
  state              TEXT NOT NULL
                     CHECK (state IN ('active', 'paused', 'aborted', 'completed')),
  phases             TEXT NOT NULL,         -- JSON array of cumulative percentages
  current_phase      INTEGER NOT NULL DEFAULT 0,
  checked_from_phase INTEGER NOT NULL DEFAULT 0,
  phase_wait         INTEGER,               -- seconds; NULL: phases advance by promote only
  max_failure_ratio  REAL NOT NULL CHECK (max_failure_ratio >= 0 AND max_failure_ratio <= 1),
  targets            TEXT NOT NULL,         -- JSON {"devices": [...], "tags": [...]} as asked
  reverts            TEXT NOT NULL DEFAULT '',
  pause_reason       TEXT NOT NULL DEFAULT '',
  created_at         INTEGER NOT NULL,
  phase_started_at   INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX deployments_by_app ON deployments(app, seq);
CREATE TABLE deployment_devices (
  deployment_id  TEXT NOT NULL REFERENCES deployments(id),
  device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  phase          INTEGER NOT NULL,
  state          TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                 ('pending', 'downloading', 'installing', 'committed', 'failed', 'rolled-back')),
  state_sequence INTEGER NOT NULL DEFAULT 0,  -- the device event that set `state`
  reason         TEXT NOT NULL DEFAULT '',
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX deployment_devices_by_device ON deployment_devices(device_id, deployment_id);
CREATE INDEX deployment_devices_by_phase ON deployment_devices(deployment_id, phase, state);
)sql"},
    Migration{3, "per-device event retention", R"sql(
-- What a device's events weigh (kept_*), and what was compacted out of the events table: every
-- sequence up to compacted_through, counted per kind in device_event_counts. Deployment states
-- live in deployment_devices and never depend on kept events.
CREATE TABLE device_event_totals (
  device_id         TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  kept_events       INTEGER NOT NULL DEFAULT 0,
  kept_bytes        INTEGER NOT NULL DEFAULT 0,
  compacted_through INTEGER NOT NULL DEFAULT 0,
  compacted_events  INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE TABLE device_event_counts (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind      TEXT NOT NULL,
  count     INTEGER NOT NULL,
  PRIMARY KEY (device_id, kind)
) STRICT, WITHOUT ROWID;
INSERT INTO device_event_totals(device_id, kept_events, kept_bytes)
  SELECT device_id, COUNT(*),
         SUM(64 + length(CAST(kind AS BLOB)) + length(CAST(app AS BLOB)) +
             length(CAST(version AS BLOB)) + length(CAST(deployment_id AS BLOB)) +
             length(CAST(reason AS BLOB)))
  FROM events GROUP BY device_id;
)sql"},
    Migration{4, "deployments that retry a release devices marked bad", R"sql(
ALTER TABLE deployments ADD COLUMN retry_bad INTEGER NOT NULL DEFAULT 0 CHECK (retry_bad IN (0, 1));
)sql"},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

Result<Database> OpenDatabase(const std::filesystem::path& path) {
  return Database::Open(path, sqlite::ErrorCodes{make_error_code(FleetErrc::kOpenFailed),
                                                 make_error_code(FleetErrc::kQueryFailed),
                                                 make_error_code(FleetErrc::kTooNew),
                                                 make_error_code(FleetErrc::kMigrationFailed)});
}

Status Migrate(Database& db, int target) {
  return sqlite::Migrate(db, kMigrations, target, "ferry-server");
}

}  // namespace ferry::fleet
