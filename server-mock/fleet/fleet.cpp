#include "ferry/fleet/fleet.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <set>

#include "ferry/core/log.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/manifest/semver.hpp"
#include "fleet_impl.hpp"
#include "migrations.hpp"

namespace ferry::fleet {
namespace {

bool AllOf(std::string_view text, std::size_t max, bool (*ok)(char)) {
  return !text.empty() && text.size() <= max && std::all_of(text.begin(), text.end(), ok);
}

bool Alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Event kind → the device's state in the deployment the event is about; nullopt for a kind
// about a committed app's life (a restart), which moves no deployment.
std::optional<std::string_view> StateFor(std::string_view kind) {
  if (kind == "restarted") {
    return std::nullopt;
  }
  if (kind == "downloading") {
    return "downloading";
  }
  if (kind == "staging" || kind == "switching" || kind == "trial") {
    return "installing";
  }
  if (kind == "committed" || kind == "already-installed") {
    return "committed";
  }
  if (kind == "failed") {
    return "failed";
  }
  return "rolled-back";
}

Status ValidateEvent(const Event& e) {
  const std::string at = "event " + std::to_string(e.sequence) + ": ";
  if (e.sequence <= 0) {
    return Fail(FleetErrc::kBadRequest, "event sequence must be a positive integer");
  }
  if (!ValidEventKind(e.kind)) {
    return Fail(FleetErrc::kBadRequest, at + "unknown kind " + Quote(e.kind));
  }
  if (!ValidAppName(e.app)) {
    return Fail(FleetErrc::kBadRequest, at + "bad app name " + Quote(e.app));
  }
  if (e.sequence > kMaxEventSequence) {
    return Fail(FleetErrc::kBadRequest,
                at + "sequence above 2^53 - 1 (integers past it do not survive JSON)");
  }
  if (e.version.size() > 128 || e.deployment.size() > 64 || e.reason.size() > 4096) {
    return Fail(FleetErrc::kBadRequest, at + "version, deployment or reason too long");
  }
  if (!e.version.empty() && !manifest::ParseSemVer(e.version)) {
    return Fail(FleetErrc::kBadRequest, at + "version " + Quote(e.version) + " is not semver");
  }
  if (!e.deployment.empty() &&
      (!e.deployment.starts_with("d-") || e.deployment.size() < 3 ||
       e.deployment.find_first_not_of("0123456789", 2) != std::string::npos)) {
    return Fail(FleetErrc::kBadRequest,
                at + "deployment " + Quote(e.deployment) + " is not a deployment id (d-N)");
  }
  if (e.device_time && (*e.device_time <= 0 || *e.device_time > kMaxEventTime)) {
    return Fail(FleetErrc::kBadRequest,
                at + "time must be unix seconds between 1 and " + std::to_string(kMaxEventTime));
  }
  return Ok();
}

// What one kept event weighs against max_event_bytes_per_device; migration 3 computes the same.
std::int64_t EventBytes(const Event& e) {
  return static_cast<std::int64_t>(64 + e.kind.size() + e.app.size() + e.version.size() +
                                   e.deployment.size() + e.reason.size());
}

// The database file is created 0600 before SQLite opens it (SQLite gives the -wal and -shm files
// the database's mode), and an existing one readable by others is closed to them.
Status RestrictDatabaseFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (!fd.valid()) {
    return Fail(FleetErrc::kOpenFailed, ErrnoError("open " + path.string()).message());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail(FleetErrc::kOpenFailed, ErrnoError("fstat " + path.string()).message());
  }
  if ((st.st_mode & 0077) != 0) {
    if (::fchmod(fd.get(), 0600) != 0) {
      return Fail(FleetErrc::kOpenFailed, ErrnoError("chmod 0600 " + path.string()).message());
    }
    log::warn("{} was readable by others; it is now mode 0600", path.string());
  }
  return Ok();
}

}  // namespace

bool ValidDeviceId(std::string_view id) {
  return AllOf(id, 128,
               [](char c) { return Alnum(c) || c == '.' || c == '_' || c == ':' || c == '-'; });
}

bool ValidTag(std::string_view tag) {
  return AllOf(tag, 64, [](char c) {
    return Alnum(c) || c == '.' || c == '_' || c == ':' || c == '=' || c == '-';
  });
}

bool ValidAppName(std::string_view app) {
  return AllOf(app, 64,
               [](char c) {
                 return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                        c == '-';
               }) &&
         app.front() != '.' && app.front() != '_' && app.front() != '-';
}

bool ValidEventKind(std::string_view kind) {
  static constexpr std::array<std::string_view, 9> kKinds = {
      "downloading", "staging",     "switching",         "trial",    "committed",
      "failed",      "rolled-back", "already-installed", "restarted"};
  return std::find(kKinds.begin(), kKinds.end(), kind) != kKinds.end();
}

Result<Transaction> Transaction::Begin(Database& db) {
  FERRY_TRY_STATUS(db.Exec("BEGIN IMMEDIATE"), "starting a transaction");
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) {
    (void)db_->Exec("ROLLBACK");
  }
}

Status Transaction::Commit() {
  Database* db = std::exchange(db_, nullptr);
  if (auto st = db->Exec("COMMIT"); !st) {
    (void)db->Exec("ROLLBACK");
    return Fail(st.error().WithContext("committing"));
  }
  return Ok();
}

std::int64_t Fleet::Impl::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.WallNow().time_since_epoch())
      .count();
}

Result<Device> Fleet::Impl::LoadDevice(std::string_view id) {
  auto stmt = db.QueryRow(
      "SELECT id, created_at, revoked_at, last_seen_at, inventory, inventory_at FROM devices "
      "WHERE id = ?1",
      id);
  if (!stmt) {
    return Fail(stmt.error());
  }
  if (!*stmt) {
    return Fail(FleetErrc::kNotFound, "no device " + Quote(id));
  }
  const Statement& row = **stmt;
  Device d;
  d.id = row.Text(0);
  d.created_at = row.Int(1);
  if (!row.IsNull(2)) {
    d.revoked_at = row.Int(2);
  }
  if (!row.IsNull(3)) {
    d.last_seen_at = row.Int(3);
  }
  d.inventory = row.OptionalText(4);
  if (!row.IsNull(5)) {
    d.inventory_at = row.Int(5);
  }
  auto st = db.ForEachRow(
      "SELECT tag FROM device_tags WHERE device_id = ?1 ORDER BY tag",
      [&](const Statement& tag) { d.tags.push_back(tag.Text(0)); }, id);
  if (!st) {
    return Fail(st.error());
  }
  return d;
}

Fleet::Fleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fleet::~Fleet() = default;

Result<std::unique_ptr<Fleet>> Fleet::Open(const std::filesystem::path& path, Clock& clock,
                                           FleetOptions options) {
  if (options.max_events_per_device < 1 || options.max_event_bytes_per_device < 1) {
    return Fail(FleetErrc::kBadRequest, "event retention bounds must be positive");
  }
  FERRY_TRY_STATUS(RestrictDatabaseFile(path), "fleet database");
  auto db = OpenDatabase(path);
  if (!db) {
    return Fail(db.error());
  }
  // WAL keeps polls (readers) off the writers' backs. synchronous=NORMAL: in WAL mode a crash of
  // the process loses nothing, and a power cut at most the last commits, which devices re-send
  // (events are idempotent) or operators see missing; an fsync per poll would cap throughput.
  auto mode = db->QueryText("PRAGMA journal_mode = WAL");
  if (!mode) {
    return Fail(mode.error().WithContext("setting WAL mode"));
  }
  if (*mode != "wal") {
    return Fail(FleetErrc::kOpenFailed,
                path.string() + ": cannot use WAL (journal mode " + *mode + ")");
  }
  FERRY_TRY_STATUS(db->Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"),
                   "setting pragmas");
  auto check = db->QueryText("PRAGMA quick_check");
  if (!check) {
    return Fail(check.error().WithContext("checking the database"));
  }
  if (*check != "ok") {
    return Fail(FleetErrc::kOpenFailed, path.string() + " failed quick_check: " + *check);
  }
  FERRY_TRY_STATUS(Migrate(*db, Migrations().back().version), "migrating " + path.string());
  auto impl = std::make_unique<Impl>(std::move(*db), clock);
  impl->options = options;
  return std::unique_ptr<Fleet>(new Fleet(std::move(impl)));
}

Result<ProvisionedDevice> Fleet::AddDevice(std::string_view id, std::span<const std::string> tags) {
  if (!ValidDeviceId(id)) {
    return Fail(FleetErrc::kBadRequest,
                "bad device id " + Quote(id) + " (1-128 of A-Z a-z 0-9 . _ : -)");
  }
  if (tags.size() > 64) {
    return Fail(FleetErrc::kBadRequest, "at most 64 tags per device");
  }
  for (const auto& tag : tags) {
    if (!ValidTag(tag)) {
      return Fail(FleetErrc::kBadRequest,
                  "bad tag " + Quote(tag) + " (1-64 of A-Z a-z 0-9 . _ : = -)");
    }
  }
  auto token = NewToken();
  if (!token) {
    return Fail(token.error());
  }
  std::lock_guard lock(impl_->mu);
  auto& db = impl_->db;
  auto tx = Transaction::Begin(db);
  if (!tx) {
    return Fail(tx.error());
  }
  auto exists = db.QueryRow("SELECT 1 FROM devices WHERE id = ?1", id);
  if (!exists) {
    return Fail(exists.error());
  }
  if (*exists) {
    return Fail(FleetErrc::kConflict, "device " + Quote(id) + " exists already");
  }
  FERRY_TRY_STATUS(db.Execute("INSERT INTO devices(id, token_hash, created_at) VALUES (?1, ?2, ?3)",
                              id, Sha256Hex(*token), impl_->Now()),
                   "adding device");
  for (const auto& tag : tags) {
    FERRY_TRY_STATUS(
        db.Execute("INSERT OR IGNORE INTO device_tags(device_id, tag) VALUES (?1, ?2)", id, tag),
        "tagging device");
  }
  auto device = impl_->LoadDevice(id);
  if (!device) {
    return Fail(device.error());
  }
  FERRY_TRY_STATUS(tx->Commit(), "adding device");
  return ProvisionedDevice{std::move(*device), std::move(*token)};
}

Result<std::vector<Device>> Fleet::ListDevices(std::optional<std::string_view> tag) {
  std::lock_guard lock(impl_->mu);
  auto stmt =
      tag ? impl_->db.Prepare("SELECT device_id FROM device_tags WHERE tag = ?1 ORDER BY device_id")
          : impl_->db.Prepare("SELECT id FROM devices ORDER BY id");
  if (!stmt) {
    return Fail(stmt.error());
  }
  if (tag) {
    stmt->Bind(1, *tag);
  }
  std::vector<std::string> ids;
  if (auto st = stmt->ForEachRow([&](const Statement& row) { ids.push_back(row.Text(0)); }); !st) {
    return Fail(st.error());
  }
  std::vector<Device> out;
  for (const auto& id : ids) {
    auto d = impl_->LoadDevice(id);
    if (!d) {
      return Fail(d.error());
    }
    out.push_back(std::move(*d));
  }
  return out;
}

Result<Device> Fleet::GetDevice(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  return impl_->LoadDevice(id);
}

Result<Device> Fleet::TagDevice(std::string_view id, std::span<const std::string> add,
                                std::span<const std::string> remove) {
  for (const auto& tag : add) {
    if (!ValidTag(tag)) {
      return Fail(FleetErrc::kBadRequest, "bad tag " + Quote(tag));
    }
  }
  std::lock_guard lock(impl_->mu);
  auto& db = impl_->db;
  auto tx = Transaction::Begin(db);
  if (!tx) {
    return Fail(tx.error());
  }
  auto device = impl_->LoadDevice(id);
  if (!device) {
    return Fail(device.error());
  }
  std::set<std::string> tags(device->tags.begin(), device->tags.end());
  for (const auto& tag : remove) {
    tags.erase(tag);
  }
  tags.insert(add.begin(), add.end());
  if (tags.size() > 64) {
    return Fail(FleetErrc::kBadRequest, "at most 64 tags per device");
  }
  FERRY_TRY_STATUS(db.Execute("DELETE FROM device_tags WHERE device_id = ?1", id),
                   "tagging device");
  for (const auto& tag : tags) {
    FERRY_TRY_STATUS(db.Execute("INSERT INTO device_tags(device_id, tag) VALUES (?1, ?2)", id, tag),
                     "tagging device");
  }
  auto updated = impl_->LoadDevice(id);
  if (!updated) {
    return Fail(updated.error());
  }
  FERRY_TRY_STATUS(tx->Commit(), "tagging device");
  return updated;
}

Result<Device> Fleet::RevokeDevice(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  FERRY_TRY_STATUS(
      impl_->db.Execute("UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                        id, impl_->Now()),
      "revoking device");
  return impl_->LoadDevice(id);
}

Result<std::string> Fleet::AuthenticateDevice(std::string_view token) {
  if (token.empty() || token.size() > 256) {
    return Fail(FleetErrc::kUnauthorized, "unknown or revoked token");
  }
  std::lock_guard lock(impl_->mu);
  auto stmt = impl_->db.QueryRow("SELECT id, revoked_at FROM devices WHERE token_hash = ?1",
                                 Sha256Hex(token));
  if (!stmt) {
    return Fail(stmt.error());
  }
  if (!*stmt) {
    return Fail(FleetErrc::kUnauthorized, "unknown or revoked token");
  }
  const Statement& row = **stmt;
  if (!row.IsNull(1)) {
    // The same answer as for a token never issued: a guesser learns nothing from revocations.
    return Fail(FleetErrc::kUnauthorized, "unknown or revoked token");
  }
  std::string id = row.Text(0);
  // A write only when the record is older than 30 s: polls stay reads.
  FERRY_TRY_STATUS(impl_->db.Execute("UPDATE devices SET last_seen_at = ?2 WHERE id = ?1 AND "
                                     "(last_seen_at IS NULL OR last_seen_at < ?2 - 30)",
                                     id, impl_->Now()),
                   "recording last seen");
  return id;
}

Result<std::vector<AppAssignment>> Fleet::Assignment(std::string_view device_id) {
  std::lock_guard lock(impl_->mu);
  const auto now = impl_->clock.Now();
  if (now >= impl_->next_reconcile) {
    impl_->next_reconcile = now + std::chrono::seconds(1);
    FERRY_TRY_STATUS(impl_->ReconcileLocked(), "reconciling deployments");
  }
  auto& db = impl_->db;
  // The newest deployment of each app that reached this device. An aborted deployment still
  // holds the devices that committed it (they run it; revert undoes it), not the others.
  std::vector<AppAssignment> out;
  auto st = db.ForEachRow(
      "SELECT d.app, d.version, d.id, d.downgrade, d.retry_bad FROM deployment_devices dd "
      "JOIN deployments d ON d.id = dd.deployment_id "
      "WHERE dd.device_id = ?1 AND dd.phase <= d.current_phase "
      "AND (d.state <> 'aborted' OR dd.state = 'committed') ORDER BY d.app, d.seq DESC",
      [&](const Statement& row) {
        std::string app = row.Text(0);
        if (!out.empty() && out.back().app == app) {
          return;
        }
        out.push_back({std::move(app), row.Text(1), row.Text(2), row.Int(3) != 0, row.Int(4) != 0});
      },
      device_id);
  if (!st) {
    return Fail(st.error());
  }
  return out;
}

Result<EventsAck> Fleet::RecordEvents(std::string_view device_id, std::vector<Event> events) {
  for (const auto& e : events) {
    FERRY_TRY_STATUS(ValidateEvent(e), "events");
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.sequence < b.sequence; });
  for (std::size_t i = 1; i < events.size(); ++i) {
    if (events[i].sequence == events[i - 1].sequence) {
      return Fail(FleetErrc::kBadRequest,
                  "sequence " + std::to_string(events[i].sequence) + " twice in one batch");
    }
  }
  std::lock_guard lock(impl_->mu);
  auto& db = impl_->db;
  const std::int64_t now = impl_->Now();
  EventsAck ack;
  bool failure_stored = false;
  {
    auto tx = Transaction::Begin(db);
    if (!tx) {
      return Fail(tx.error());
    }
    FERRY_TRY_STATUS(
        db.Execute("INSERT OR IGNORE INTO device_event_totals(device_id) VALUES (?1)", device_id),
        "storing events");
    auto totals = db.QueryRow(
        "SELECT compacted_through FROM device_event_totals WHERE device_id = ?1", device_id);
    if (!totals) {
      return Fail(totals.error());
    }
    const std::int64_t compacted_through = *totals ? (*totals)->Int(0) : 0;
    std::int64_t added_events = 0;
    std::int64_t added_bytes = 0;
    for (auto& e : events) {
      if (e.sequence <= compacted_through) {
        ++ack.duplicates;  // stored once, and compacted since
        continue;
      }
      auto insert = db.Prepare(
          "INSERT OR IGNORE INTO events(device_id, sequence, kind, app, version, deployment_id, "
          "reason, device_time, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      if (!insert) {
        return Fail(insert.error());
      }
      insert->Bind(1, device_id).Bind(2, e.sequence).Bind(3, e.kind).Bind(4, e.app);
      insert->Bind(5, e.version).Bind(6, e.deployment).Bind(7, e.reason).Bind(9, now);
      if (e.device_time) {
        insert->Bind(8, *e.device_time);
      } else {
        insert->BindNull(8);
      }
      FERRY_TRY_STATUS(insert->Run(), "storing event");
      if (db.Changes() == 0) {
        ++ack.duplicates;
        continue;
      }
      ++ack.stored;
      ++added_events;
      added_bytes += EventBytes(e);
      const std::optional<std::string_view> moved_to = StateFor(e.kind);
      if (!moved_to) {
        continue;
      }
      // The deployment the event is about: the one it names, else the newest one of its app
      // (and version, when given) released to this device. Only deployments that target this
      // device are considered, so a device cannot move another device's state.
      auto target = db.QueryRow(
          "SELECT dd.deployment_id FROM deployment_devices dd "
          "JOIN deployments d ON d.id = dd.deployment_id "
          "WHERE dd.device_id = ?1 AND d.app = ?2 AND dd.phase <= d.current_phase "
          "AND (?3 = '' OR d.id = ?3) AND (?4 = '' OR d.version = ?4) "
          "ORDER BY d.seq DESC LIMIT 1",
          device_id, e.app, e.deployment, e.version);
      if (!target) {
        return Fail(target.error());
      }
      if (!*target) {
        continue;
      }
      const std::string deployment = (*target)->Text(0);
      const std::string_view state = *moved_to;
      const bool failure = state == "failed" || state == "rolled-back";
      failure_stored = failure_stored || failure;
      auto update = db.Prepare(
          "UPDATE deployment_devices SET state = ?3, state_sequence = ?4, reason = ?5, "
          "updated_at = ?6 WHERE deployment_id = ?1 AND device_id = ?2 AND state_sequence < ?4");
      if (!update) {
        return Fail(update.error());
      }
      update->Bind(1, deployment).Bind(2, device_id).Bind(3, state).Bind(4, e.sequence);
      update->Bind(5, failure ? std::string_view(e.reason) : std::string_view()).Bind(6, now);
      FERRY_TRY_STATUS(update->Run(), "updating deployment state");
    }
    FERRY_TRY_STATUS(db.Execute("UPDATE device_event_totals SET kept_events = kept_events + ?2, "
                                "kept_bytes = kept_bytes + ?3 WHERE device_id = ?1",
                                device_id, added_events, added_bytes),
                     "storing events");
    FERRY_TRY_STATUS(impl_->CompactEvents(device_id), "compacting events");
    auto highest = db.QueryRow(
        "SELECT MAX(COALESCE((SELECT MAX(sequence) FROM events WHERE device_id = ?1), 0), "
        "(SELECT compacted_through FROM device_event_totals WHERE device_id = ?1))",
        device_id);
    if (!highest) {
      return Fail(highest.error());
    }
    ack.highest_sequence = (*highest)->Int(0);
    FERRY_TRY_STATUS(tx->Commit(), "storing events");
  }
  // A failure may pass a phase's ratio: check at once, so the pause is not a poll late. Other
  // events only finish phases, which the next reconcile (within a second) picks up; checking
  // after every batch would scan each deployment's devices once per event.
  if (failure_stored) {
    FERRY_TRY_STATUS(impl_->ReconcileLocked(), "reconciling deployments");
  }
  return ack;
}

Status Fleet::Impl::CompactEvents(std::string_view device_id) {
  auto totals = db.QueryRow(
      "SELECT kept_events, kept_bytes FROM device_event_totals WHERE device_id = ?1", device_id);
  if (!totals) {
    return Fail(totals.error());
  }
  if (!*totals) {
    return Ok();
  }
  std::int64_t events = (*totals)->Int(0);
  std::int64_t bytes = (*totals)->Int(1);
  if (events <= options.max_events_per_device && bytes <= options.max_event_bytes_per_device) {
    return Ok();
  }
  // Down to three quarters of each bound, so that a device at its bound does not compact on
  // every batch.
  const std::int64_t event_goal = options.max_events_per_device / 4 * 3;
  const std::int64_t byte_goal = options.max_event_bytes_per_device / 4 * 3;
  std::int64_t through = 0;
  std::int64_t dropped = 0;
  std::int64_t dropped_bytes = 0;
  {  // the statement is finished before the rows it read are deleted
    auto oldest = db.Prepare(
        "SELECT sequence, 64 + length(CAST(kind AS BLOB)) + length(CAST(app AS BLOB)) + "
        "length(CAST(version AS BLOB)) + length(CAST(deployment_id AS BLOB)) + "
        "length(CAST(reason AS BLOB)) FROM events WHERE device_id = ?1 ORDER BY sequence");
    if (!oldest) {
      return Fail(oldest.error());
    }
    oldest->Bind(1, device_id);
    while (events - dropped > event_goal || bytes - dropped_bytes > byte_goal) {
      auto row = oldest->Step();
      if (!row) {
        return Fail(row.error());
      }
      if (!*row) {
        break;
      }
      through = oldest->Int(0);
      ++dropped;
      dropped_bytes += oldest->Int(1);
    }
  }
  if (dropped == 0) {
    return Ok();
  }
  FERRY_TRY_STATUS(
      db.Execute("INSERT INTO device_event_counts(device_id, kind, count) "
                 "SELECT device_id, kind, COUNT(*) FROM events "
                 "WHERE device_id = ?1 AND sequence <= ?2 GROUP BY kind "
                 "ON CONFLICT(device_id, kind) DO UPDATE SET count = count + excluded.count",
                 device_id, through),
      "counting compacted events");
  FERRY_TRY_STATUS(
      db.Execute("DELETE FROM events WHERE device_id = ?1 AND sequence <= ?2", device_id, through),
      "compacting events");
  FERRY_TRY_STATUS(
      db.Execute("UPDATE device_event_totals SET kept_events = kept_events - ?2, "
                 "kept_bytes = kept_bytes - ?3, compacted_events = compacted_events + ?2, "
                 "compacted_through = MAX(compacted_through, ?4) WHERE device_id = ?1",
                 device_id, dropped, dropped_bytes, through),
      "compacting events");
  return Ok();
}

Result<EventRetention> Fleet::DeviceEventRetention(std::string_view device_id) {
  std::lock_guard lock(impl_->mu);
  EventRetention out;
  auto totals = impl_->db.QueryRow(
      "SELECT kept_events, kept_bytes, compacted_through, compacted_events "
      "FROM device_event_totals WHERE device_id = ?1",
      device_id);
  if (!totals) {
    return Fail(totals.error());
  }
  if (*totals) {
    out.kept_events = (*totals)->Int(0);
    out.kept_bytes = (*totals)->Int(1);
    out.compacted_through = (*totals)->Int(2);
    out.compacted_events = (*totals)->Int(3);
  }
  auto st = impl_->db.ForEachRow(
      "SELECT kind, count FROM device_event_counts WHERE device_id = ?1 ORDER BY kind",
      [&](const Statement& row) { out.compacted_by_kind[row.Text(0)] = row.Int(1); }, device_id);
  if (!st) {
    return Fail(st.error());
  }
  return out;
}

Result<std::vector<Event>> Fleet::DeviceEvents(std::string_view device_id, int limit) {
  std::lock_guard lock(impl_->mu);
  std::vector<Event> out;
  auto st = impl_->db.ForEachRow(
      "SELECT sequence, kind, app, version, deployment_id, reason, device_time, received_at "
      "FROM events WHERE device_id = ?1 ORDER BY sequence DESC LIMIT ?2",
      [&](const Statement& row) {
        Event e;
        e.sequence = row.Int(0);
        e.kind = row.Text(1);
        e.app = row.Text(2);
        e.version = row.Text(3);
        e.deployment = row.Text(4);
        e.reason = row.Text(5);
        if (!row.IsNull(6)) {
          e.device_time = row.Int(6);
        }
        e.received_at = row.Int(7);
        out.push_back(std::move(e));
      },
      device_id, std::int64_t{limit});
  if (!st) {
    return Fail(st.error());
  }
  return out;
}

Status Fleet::PutInventory(std::string_view device_id, std::string_view inventory) {
  std::lock_guard lock(impl_->mu);
  FERRY_TRY_STATUS(
      impl_->db.Execute(
          "UPDATE devices SET inventory = ?2, inventory_at = ?3, last_seen_at = ?3 WHERE id = ?1",
          device_id, inventory, impl_->Now()),
      "storing inventory");
  if (impl_->db.Changes() == 0) {
    return Fail(FleetErrc::kNotFound, "no device " + Quote(device_id));
  }
  return Ok();
}

Status Fleet::Reconcile() {
  std::lock_guard lock(impl_->mu);
  return impl_->ReconcileLocked();
}

}  // namespace ferry::fleet
