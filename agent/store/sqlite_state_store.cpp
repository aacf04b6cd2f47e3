#include <mutex>

#include "ferry/core/crashpoint.hpp"
#include "ferry/core/error_category.hpp"
#include "ferry/store/state_store.hpp"
#include "migrations.hpp"

namespace ferry::store {
namespace {

// Around the commit of every explicit transaction (many per update: name:n picks one).
FERRY_DEFINE_CRASHPOINT(kCommitBefore, "store.commit.before");
FERRY_DEFINE_CRASHPOINT(kCommitAfter, "store.commit.after");

std::string Describe(StoreErrc e) {
  switch (e) {
    case StoreErrc::kOpenFailed:
      return "cannot open the state database";
    case StoreErrc::kCorrupt:
      return "the state database is corrupt";
    case StoreErrc::kTooNew:
      return "the state database is newer than this ferryd";
    case StoreErrc::kMigrationFailed:
      return "a schema migration failed";
    case StoreErrc::kQueryFailed:
      return "a database statement failed";
  }
  return {};
}

std::int64_t ToMillis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
WallTime FromMillis(std::int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

constexpr std::pair<RevisionState, std::string_view> kRevisionStates[] = {
    {RevisionState::kDownloading, "downloading"},
    {RevisionState::kStaging, "staging"},
    {RevisionState::kStaged, "staged"},
    {RevisionState::kSwitching, "switching"},
    {RevisionState::kTrial, "trial"},
    {RevisionState::kCommitted, "committed"},
    {RevisionState::kFailed, "failed"},
    {RevisionState::kRolledBack, "rolled-back"},
    {RevisionState::kRemoved, "removed"},
    {RevisionState::kInterrupted, "interrupted"},
};

// The store's connection, guarded by one recursive mutex so a transaction's callback can call the
// store's own methods on the same thread.
class SqliteStateStore;

class SqliteMetadataStore final : public trust::MetadataStore {
 public:
  explicit SqliteMetadataStore(SqliteStateStore& store) : store_(store) {}
  Result<std::optional<std::string>> Load(std::string_view role) override;
  Status Save(std::string_view role, std::string_view bytes, std::uint64_t version,
              std::chrono::system_clock::time_point expires) override;
  Status Remove(std::string_view role) override;
  Result<std::chrono::system_clock::time_point> TimeFloor() override;
  Status RaiseTimeFloor(std::chrono::system_clock::time_point t) override;

 private:
  SqliteStateStore& store_;
};

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(Database db, const Clock& clock)
      : db_(std::move(db)), clock_(clock), metadata_(*this) {}

  Status InTransaction(const std::function<Status()>& fn) override {
    std::lock_guard lock(mu_);
    if (depth_ > 0) {
      return fn();
    }
    if (auto st = db_.Exec("BEGIN IMMEDIATE"); !st) {
      return st;
    }
    ++depth_;
    Status result = fn();
    --depth_;
    if (!result) {
      (void)db_.Exec("ROLLBACK");
      return result;
    }
    Crashpoint(kCommitBefore);
    if (auto st = db_.Exec("COMMIT"); !st) {
      (void)db_.Exec("ROLLBACK");
      return st;
    }
    Crashpoint(kCommitAfter);
    return Ok();
  }

  Status PutApp(const std::string& name) override {
    return Write("INSERT INTO apps(name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                 [&](Statement& s) { s.Bind(1, name).Bind(2, Now()); });
  }

  Result<std::vector<AppRecord>> ListApps() override {
    return Query<AppRecord>(
        "SELECT name, current_revision, previous_revision, created_at FROM apps ORDER BY name",
        [](Statement&) {}, ReadApp);
  }

  Result<AppRecord> GetApp(const std::string& name) override {
    return One<AppRecord>(
        "SELECT name, current_revision, previous_revision, created_at FROM apps WHERE name = ?1",
        [&](Statement& s) { s.Bind(1, name); }, ReadApp, "app " + name);
  }

  Status SetAppRevisions(const std::string& app, std::optional<std::string> current,
                         std::optional<std::string> previous) override {
    return WriteOne(
        "UPDATE apps SET current_revision = ?2, previous_revision = ?3 WHERE name = ?1",
        [&](Statement& s) { s.Bind(1, app).BindOptional(2, current).BindOptional(3, previous); },
        "app " + app);
  }

  Status AddRevision(const RevisionRecord& r) override {
    return Write(
        "INSERT INTO revisions(id, app, version, manifest_digest, state, bad, reason, created_at, "
        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        [&](Statement& s) {
          s.Bind(1, r.id)
              .Bind(2, r.app)
              .Bind(3, r.version)
              .Bind(4, r.manifest_digest)
              .Bind(5, ToString(r.state))
              .Bind(6, std::int64_t{r.bad ? 1 : 0})
              .Bind(7, r.reason)
              .Bind(8, Now());
        });
  }

  Result<RevisionRecord> GetRevision(const std::string& id) override {
    return One<RevisionRecord>(
        std::string(kRevisionColumns) + " WHERE id = ?1", [&](Statement& s) { s.Bind(1, id); },
        ReadRevision, "revision " + id);
  }

  Result<std::vector<RevisionRecord>> ListRevisions(const std::string& app) override {
    return Query<RevisionRecord>(
        std::string(kRevisionColumns) + " WHERE app = ?1 ORDER BY created_at, rowid",
        [&](Statement& s) { s.Bind(1, app); }, ReadRevision);
  }

  Status SetRevisionState(const std::string& id, RevisionState state,
                          const std::string& reason) override {
    return WriteOne(
        "UPDATE revisions SET state = ?2, reason = CASE WHEN ?3 = '' THEN reason ELSE ?3 END, "
        "updated_at = ?4 WHERE id = ?1",
        [&](Statement& s) {
          s.Bind(1, id).Bind(2, ToString(state)).Bind(3, reason).Bind(4, Now());
        },
        "revision " + id);
  }

  Status MarkRevisionBad(const std::string& id, const std::string& reason) override {
    return WriteOne(
        "UPDATE revisions SET bad = 1, reason = ?2, updated_at = ?3 WHERE id = ?1",
        [&](Statement& s) { s.Bind(1, id).Bind(2, reason).Bind(3, Now()); }, "revision " + id);
  }

  Status RetryRevision(const std::string& id, const std::string& retried) override {
    return WriteOne(
        "UPDATE revisions SET bad = 0, retried = ?2, updated_at = ?3 WHERE id = ?1",
        [&](Statement& s) { s.Bind(1, id).Bind(2, retried).Bind(3, Now()); }, "revision " + id);
  }

  Result<std::uint32_t> CountRevision(const std::string& id, RevisionCounter counter) override {
    const std::string column(CounterColumn(counter));
    std::uint32_t value = 0;
    Status st = InTransaction([&]() -> Status {
      if (auto s = WriteOne(
              "UPDATE revisions SET " + column + " = " + column +
                  " + 1, updated_at = ?2 WHERE id = ?1",
              [&](Statement& q) { q.Bind(1, id).Bind(2, Now()); }, "revision " + id);
          !s) {
        return s;
      }
      auto rec = GetRevision(id);
      if (!rec) {
        return Fail(rec.error());
      }
      value = CounterValue(*rec, counter);
      return Ok();
    });
    if (!st) {
      return Fail(st.error());
    }
    return value;
  }

  Status ResetRevisionCount(const std::string& id, RevisionCounter counter) override {
    const std::string column(CounterColumn(counter));
    return WriteOne(
        "UPDATE revisions SET " + column + " = 0, updated_at = ?2 WHERE id = ?1",
        [&](Statement& q) { q.Bind(1, id).Bind(2, Now()); }, "revision " + id);
  }

  Status SetProbation(const std::string& id, std::optional<WallTime> until) override {
    return WriteOne(
        "UPDATE revisions SET probation_until = ?2, updated_at = ?3 WHERE id = ?1",
        [&](Statement& q) {
          q.Bind(1, id).Bind(3, Now());
          if (until) {
            q.Bind(2, ToMillis(*until));
          } else {
            q.BindNull(2);
          }
        },
        "revision " + id);
  }

  Status PutBackoff(const ReleaseBackoff& b) override {
    return Write(
        "INSERT INTO release_backoff(key, failures, retry_at, reported) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(key) DO UPDATE SET failures = ?2, retry_at = ?3, reported = ?4",
        [&](Statement& s) {
          s.Bind(1, b.key)
              .Bind(2, static_cast<std::int64_t>(b.failures))
              .Bind(3, ToMillis(b.retry_at))
              .Bind(4, b.reported);
        });
  }

  Result<std::vector<ReleaseBackoff>> ListBackoffs() override {
    return Query<ReleaseBackoff>(
        "SELECT key, failures, retry_at, reported FROM release_backoff ORDER BY key",
        [](Statement&) {},
        [](Statement& s) {
          ReleaseBackoff b;
          b.key = s.Text(0);
          b.failures = static_cast<std::uint32_t>(s.Int(1));
          b.retry_at = FromMillis(s.Int(2));
          b.reported = s.Text(3);
          return b;
        });
  }

  Status RemoveBackoff(const std::string& key) override {
    return Write("DELETE FROM release_backoff WHERE ?1 = '' OR key = ?1",
                 [&](Statement& s) { s.Bind(1, key); });
  }

  Status StartStep(const std::string& revision, const std::string& step) override {
    return Write(
        "INSERT INTO revision_steps(revision_id, step, started_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(revision_id, step) DO UPDATE SET started_at = ?3, finished_at = NULL",
        [&](Statement& s) { s.Bind(1, revision).Bind(2, step).Bind(3, Now()); });
  }

  Status FinishStep(const std::string& revision, const std::string& step) override {
    return WriteOne(
        "UPDATE revision_steps SET finished_at = ?3 WHERE revision_id = ?1 AND step = ?2",
        [&](Statement& s) { s.Bind(1, revision).Bind(2, step).Bind(3, Now()); },
        "step " + step + " of revision " + revision);
  }

  Result<std::vector<StepTiming>> ListSteps(const std::string& revision) override {
    return Query<StepTiming>(
        "SELECT step, started_at, finished_at FROM revision_steps WHERE revision_id = ?1 "
        "ORDER BY started_at, rowid",
        [&](Statement& s) { s.Bind(1, revision); },
        [](Statement& s) {
          StepTiming t;
          t.step = s.Text(0);
          t.started_at = FromMillis(s.Int(1));
          if (auto f = s.OptionalText(2)) {
            t.finished_at = FromMillis(s.Int(2));
          }
          return t;
        });
  }

  Status PutLayer(const std::string& diff_id, LayerState state, std::uint64_t size) override {
    return Write(
        "INSERT INTO layers(diff_id, state, size, created_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(diff_id) DO UPDATE SET state = ?2, size = ?3",
        [&](Statement& s) {
          s.Bind(1, diff_id).Bind(2, ToString(state)).Bind(3, static_cast<std::int64_t>(size));
          s.Bind(4, Now());
        });
  }

  Result<std::optional<LayerRecord>> GetLayer(const std::string& diff_id) override {
    auto rows = Query<LayerRecord>(
        std::string(kLayerColumns) + " WHERE l.diff_id = ?1",
        [&](Statement& s) { s.Bind(1, diff_id); }, ReadLayer);
    if (!rows) {
      return Fail(rows.error());
    }
    if (rows->empty()) {
      return std::optional<LayerRecord>();
    }
    return std::optional<LayerRecord>(std::move(rows->front()));
  }

  Result<std::vector<LayerRecord>> ListLayers() override {
    return Query<LayerRecord>(
        std::string(kLayerColumns) + " ORDER BY l.diff_id", [](Statement&) {}, ReadLayer);
  }

  Status RemoveLayer(const std::string& diff_id) override {
    return Write("DELETE FROM layers WHERE diff_id = ?1",
                 [&](Statement& s) { s.Bind(1, diff_id); });
  }

  Status SetRevisionLayers(const std::string& revision,
                           const std::vector<std::string>& diff_ids) override {
    return InTransaction([&]() -> Status {
      if (auto st = Write("DELETE FROM revision_layers WHERE revision_id = ?1",
                          [&](Statement& s) { s.Bind(1, revision); });
          !st) {
        return st;
      }
      for (std::size_t i = 0; i < diff_ids.size(); ++i) {
        if (auto st = Write(
                "INSERT INTO revision_layers(revision_id, position, diff_id) VALUES (?1, ?2, ?3)",
                [&](Statement& s) {
                  s.Bind(1, revision).Bind(2, static_cast<std::int64_t>(i)).Bind(3, diff_ids[i]);
                });
            !st) {
          return st;
        }
      }
      return Ok();
    });
  }

  Status PutDownload(const DownloadRecord& d) override {
    return Write(
        "INSERT INTO downloads(digest, url, bytes_done, total_bytes, validator, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(digest) DO UPDATE SET url = ?2, "
        "bytes_done = ?3, total_bytes = ?4, validator = ?5, updated_at = ?6",
        [&](Statement& s) {
          s.Bind(1, d.digest)
              .Bind(2, d.url)
              .Bind(3, static_cast<std::int64_t>(d.bytes_done))
              .Bind(4, static_cast<std::int64_t>(d.total_bytes))
              .Bind(5, d.validator)
              .Bind(6, Now());
        });
  }

  Result<std::optional<DownloadRecord>> GetDownload(const std::string& digest) override {
    auto rows = Query<DownloadRecord>(
        "SELECT digest, url, bytes_done, total_bytes, validator, updated_at FROM downloads "
        "WHERE digest = ?1",
        [&](Statement& s) { s.Bind(1, digest); },
        [](Statement& s) {
          DownloadRecord d;
          d.digest = s.Text(0);
          d.url = s.Text(1);
          d.bytes_done = static_cast<std::uint64_t>(s.Int(2));
          d.total_bytes = static_cast<std::uint64_t>(s.Int(3));
          d.validator = s.Text(4);
          d.updated_at = FromMillis(s.Int(5));
          return d;
        });
    if (!rows) {
      return Fail(rows.error());
    }
    if (rows->empty()) {
      return std::optional<DownloadRecord>();
    }
    return std::optional<DownloadRecord>(std::move(rows->front()));
  }

  Status RemoveDownload(const std::string& digest) override {
    return Write("DELETE FROM downloads WHERE digest = ?1",
                 [&](Statement& s) { s.Bind(1, digest); });
  }

  Result<std::int64_t> BeginJournal(const JournalEntry& e) override {
    std::lock_guard lock(mu_);
    if (auto st =
            Write("INSERT INTO journal(app, from_revision, to_revision, step, attempt, started_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  [&](Statement& s) {
                    s.Bind(1, e.app)
                        .BindOptional(2, e.from_revision)
                        .BindOptional(3, e.to_revision)
                        .Bind(4, e.step)
                        .Bind(5, static_cast<std::int64_t>(e.attempt))
                        .Bind(6, Now());
                  });
        !st) {
      return Fail(st.error());
    }
    return db_.LastInsertRowId();
  }

  Status FinishJournal(std::int64_t id) override {
    return WriteOne(
        "UPDATE journal SET finished = 1 WHERE id = ?1", [&](Statement& s) { s.Bind(1, id); },
        "journal entry " + std::to_string(id));
  }

  Result<std::vector<JournalEntry>> UnfinishedJournal() override {
    return Query<JournalEntry>(
        "SELECT id, app, from_revision, to_revision, step, attempt, started_at, finished "
        "FROM journal WHERE finished = 0 ORDER BY id",
        [](Statement&) {},
        [](Statement& s) {
          JournalEntry e;
          e.id = s.Int(0);
          e.app = s.Text(1);
          e.from_revision = s.OptionalText(2);
          e.to_revision = s.OptionalText(3);
          e.step = s.Text(4);
          e.attempt = static_cast<std::uint32_t>(s.Int(5));
          e.started_at = FromMillis(s.Int(6));
          e.finished = s.Int(7) != 0;
          return e;
        });
  }

  Result<std::int64_t> AppendEvent(const std::string& kind, const std::string& app,
                                   const std::string& payload) override {
    std::lock_guard lock(mu_);
    if (auto st = Write(
            "INSERT INTO outbox(kind, app, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
            [&](Statement& s) { s.Bind(1, kind).Bind(2, app).Bind(3, payload).Bind(4, Now()); });
        !st) {
      return Fail(st.error());
    }
    return db_.LastInsertRowId();
  }

  static OutboxEvent ReadEvent(Statement& s) {
    OutboxEvent e;
    e.sequence = s.Int(0);
    e.kind = s.Text(1);
    e.app = s.Text(2);
    e.payload = s.Text(3);
    e.created_at = FromMillis(s.Int(4));
    e.delivered = s.Int(5) != 0;
    return e;
  }

  Result<std::vector<OutboxEvent>> PendingEvents(std::size_t limit) override {
    return Query<OutboxEvent>(
        "SELECT sequence, kind, app, payload, created_at, delivered FROM outbox "
        "WHERE delivered = 0 ORDER BY sequence LIMIT ?1",
        [&](Statement& s) { s.Bind(1, static_cast<std::int64_t>(limit)); }, &ReadEvent);
  }

  Result<std::optional<OutboxEvent>> LastEvent(const std::string& app,
                                               const std::string& kind) override {
    auto found = Query<OutboxEvent>(
        "SELECT sequence, kind, app, payload, created_at, delivered FROM outbox "
        "WHERE app = ?1 AND kind = ?2 ORDER BY sequence DESC LIMIT 1",
        [&](Statement& s) { s.Bind(1, app).Bind(2, kind); }, &ReadEvent);
    if (!found) {
      return Fail(found.error());
    }
    if (found->empty()) {
      return std::optional<OutboxEvent>();
    }
    return std::optional<OutboxEvent>(std::move(found->front()));
  }

  Status MarkDelivered(std::int64_t up_to_sequence) override {
    return Write("UPDATE outbox SET delivered = 1 WHERE sequence <= ?1 AND delivered = 0",
                 [&](Statement& s) { s.Bind(1, up_to_sequence); });
  }

  trust::MetadataStore& Metadata() override { return metadata_; }

  // Used by SqliteMetadataStore.
  template <class Bind>
  Status Write(std::string_view sql, Bind&& bind) {
    std::lock_guard lock(mu_);
    auto stmt = db_.Prepare(sql);
    if (!stmt) {
      return Fail(stmt.error());
    }
    bind(*stmt);
    return stmt->Run();
  }

  template <class T, class Bind, class Read>
  Result<std::vector<T>> Query(std::string_view sql, Bind&& bind, Read&& read) {
    std::lock_guard lock(mu_);
    auto stmt = db_.Prepare(sql);
    if (!stmt) {
      return Fail(stmt.error());
    }
    bind(*stmt);
    std::vector<T> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row) {
        return Fail(row.error());
      }
      if (!*row) {
        break;
      }
      out.push_back(read(*stmt));
    }
    return out;
  }

  std::int64_t Now() const { return ToMillis(clock_.WallNow()); }

 private:
  static constexpr std::string_view kRevisionColumns =
      "SELECT id, app, version, manifest_digest, state, bad, reason, created_at, updated_at, "
      "start_attempts, interruptions, probation_until, retried, probation_exits FROM revisions";

  static std::string_view CounterColumn(RevisionCounter counter) {
    switch (counter) {
      case RevisionCounter::kStartAttempts:
        return "start_attempts";
      case RevisionCounter::kInterruptions:
        return "interruptions";
      case RevisionCounter::kProbationExits:
        return "probation_exits";
    }
    return "start_attempts";
  }

  static std::uint32_t CounterValue(const RevisionRecord& r, RevisionCounter counter) {
    switch (counter) {
      case RevisionCounter::kStartAttempts:
        return r.start_attempts;
      case RevisionCounter::kInterruptions:
        return r.interruptions;
      case RevisionCounter::kProbationExits:
        return r.probation_exits;
    }
    return r.start_attempts;
  }
  static constexpr std::string_view kLayerColumns =
      "SELECT l.diff_id, l.state, l.size, "
      "(SELECT count(DISTINCT revision_id) FROM revision_layers r WHERE r.diff_id = l.diff_id) "
      "FROM layers l";

  static AppRecord ReadApp(Statement& s) {
    AppRecord a;
    a.name = s.Text(0);
    a.current_revision = s.OptionalText(1);
    a.previous_revision = s.OptionalText(2);
    a.created_at = FromMillis(s.Int(3));
    return a;
  }

  static RevisionRecord ReadRevision(Statement& s) {
    RevisionRecord r;
    r.id = s.Text(0);
    r.app = s.Text(1);
    r.version = s.Text(2);
    r.manifest_digest = s.Text(3);
    // An unknown state can only come from a newer ferryd; treat it as failed rather than guess.
    r.state = RevisionStateFromString(s.Text(4)).value_or(RevisionState::kFailed);
    r.bad = s.Int(5) != 0;
    r.reason = s.Text(6);
    r.created_at = FromMillis(s.Int(7));
    r.updated_at = FromMillis(s.Int(8));
    r.start_attempts = static_cast<std::uint32_t>(s.Int(9));
    r.interruptions = static_cast<std::uint32_t>(s.Int(10));
    if (!s.IsNull(11)) {
      r.probation_until = FromMillis(s.Int(11));
    }
    r.retried = s.Text(12);
    r.probation_exits = static_cast<std::uint32_t>(s.Int(13));
    return r;
  }

  static LayerRecord ReadLayer(Statement& s) {
    LayerRecord l;
    l.diff_id = s.Text(0);
    l.state = s.Text(1) == "complete" ? LayerState::kComplete : LayerState::kStaging;
    l.size = static_cast<std::uint64_t>(s.Int(2));
    l.references = static_cast<std::uint32_t>(s.Int(3));
    return l;
  }

  template <class T, class Bind, class Read>
  Result<T> One(std::string_view sql, Bind&& bind, Read&& read, const std::string& what) {
    auto rows = Query<T>(sql, std::forward<Bind>(bind), std::forward<Read>(read));
    if (!rows) {
      return Fail(rows.error());
    }
    if (rows->empty()) {
      return Fail(Errc::kNotFound, "no " + what);
    }
    return std::move(rows->front());
  }

  template <class Bind>
  Status WriteOne(std::string_view sql, Bind&& bind, const std::string& what) {
    std::lock_guard lock(mu_);
    if (auto st = Write(sql, std::forward<Bind>(bind)); !st) {
      return st;
    }
    if (db_.Changes() == 0) {
      return Fail(Errc::kNotFound, "no " + what);
    }
    return Ok();
  }

  std::recursive_mutex mu_;
  int depth_ = 0;
  Database db_;
  const Clock& clock_;
  SqliteMetadataStore metadata_;
};

Result<std::optional<std::string>> SqliteMetadataStore::Load(std::string_view role) {
  auto rows = store_.Query<std::string>(
      "SELECT raw FROM trusted_metadata WHERE role = ?1", [&](Statement& s) { s.Bind(1, role); },
      [](Statement& s) { return s.Blob(0); });
  if (!rows) {
    return Fail(rows.error());
  }
  if (rows->empty()) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::move(rows->front()));
}

Status SqliteMetadataStore::Save(std::string_view role, std::string_view bytes,
                                 std::uint64_t version,
                                 std::chrono::system_clock::time_point expires) {
  return store_.Write(
      "INSERT INTO trusted_metadata(role, version, expires, raw, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(role) DO UPDATE SET version = ?2, expires = ?3, "
      "raw = ?4, updated_at = ?5",
      [&](Statement& s) {
        s.Bind(1, role)
            .Bind(2, static_cast<std::int64_t>(version))
            .Bind(3, std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch())
                         .count())
            .BindBlob(4, bytes)
            .Bind(5, store_.Now());
      });
}

Status SqliteMetadataStore::Remove(std::string_view role) {
  return store_.Write("DELETE FROM trusted_metadata WHERE role = ?1",
                      [&](Statement& s) { s.Bind(1, role); });
}

Result<std::chrono::system_clock::time_point> SqliteMetadataStore::TimeFloor() {
  auto rows = store_.Query<std::int64_t>(
      "SELECT value FROM trust_state WHERE key = 'time_floor'", [](Statement&) {},
      [](Statement& s) { return s.Int(0); });
  if (!rows) {
    return Fail(rows.error());
  }
  const std::int64_t seconds = rows->empty() ? 0 : rows->front();
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

Status SqliteMetadataStore::RaiseTimeFloor(std::chrono::system_clock::time_point t) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return store_.Write(
      "INSERT INTO trust_state(key, value) VALUES ('time_floor', ?1) "
      "ON CONFLICT(key) DO UPDATE SET value = max(value, ?1)",
      [&](Statement& s) { s.Bind(1, static_cast<std::int64_t>(seconds)); });
}

Status Configure(Database& db) {
  // WAL survives power cuts with synchronous=FULL; foreign keys keep references honest.
  if (auto mode = db.QueryText("PRAGMA journal_mode = WAL"); !mode || *mode != "wal") {
    return Fail(StoreErrc::kOpenFailed,
                db.path().string() + ": cannot enable WAL journal mode" +
                    (mode ? " (got " + *mode + ")" : ": " + mode.error().message()));
  }
  // A page cache of 256 KiB, not SQLite's 2 MiB: ferryd's queries are few and small, and the
  // cache stays allocated for as long as ferryd runs (months on a device), growing with the
  // history and the outbox up to its bound.
  for (std::string_view pragma :
       {"PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON", "PRAGMA cache_size = -256"}) {
    if (auto st = db.Exec(pragma); !st) {
      return Fail(MakeError(StoreErrc::kOpenFailed, st.error().message()));
    }
  }
  auto check = db.QueryText("PRAGMA quick_check");
  if (!check) {
    return Fail(MakeError(StoreErrc::kCorrupt, check.error().message()));
  }
  if (*check != "ok") {
    return Fail(StoreErrc::kCorrupt, db.path().string() + " failed its integrity check: " + *check);
  }
  return Ok();
}

}  // namespace

const std::error_category& StoreCategory() noexcept {
  static const EnumErrorCategory<StoreErrc> category("ferry.store", Describe);
  return category;
}

std::error_code make_error_code(StoreErrc e) noexcept {
  return {static_cast<int>(e), StoreCategory()};
}

std::string_view ToString(RevisionState s) {
  for (const auto& [state, name] : kRevisionStates) {
    if (state == s) {
      return name;
    }
  }
  return "unknown";
}

std::optional<RevisionState> RevisionStateFromString(std::string_view s) {
  for (const auto& [state, name] : kRevisionStates) {
    if (name == s) {
      return state;
    }
  }
  return std::nullopt;
}

std::string_view ToString(LayerState s) {
  switch (s) {
    case LayerState::kStaging:
      return "staging";
    case LayerState::kComplete:
      return "complete";
  }
  return "staging";
}

int LatestSchemaVersion() { return Migrations().back().version; }

Result<std::unique_ptr<StateStore>> OpenStateStore(const std::filesystem::path& path,
                                                   const Clock& clock) {
  auto db = OpenDatabase(path);
  if (!db) {
    return Fail(db.error());
  }
  if (auto st = Configure(*db); !st) {
    return Fail(st.error());
  }
  if (auto st = Migrate(*db, LatestSchemaVersion()); !st) {
    return Fail(st.error());
  }
  return std::unique_ptr<StateStore>(new SqliteStateStore(std::move(*db), clock));
}

}  // namespace ferry::store
