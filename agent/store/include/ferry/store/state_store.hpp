// ferryd's state database: the journal and the source of truth for what is installed, what is in
// flight and what is still to be reported. SQLite in WAL mode with synchronous=FULL; every write is
// a committed transaction before the caller acts on it ("persist, then act"). No SQL leaves this
// module: callers see typed records only.
//
// Threading: one StateStore may be used from several threads; calls are serialized internally.
// Failures: every method returns an Error with code StoreErrc (or Errc::kNotFound for a missing
// record) and a message naming the database and the operation.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/trust/metadata_store.hpp"

namespace ferry::store {

enum class StoreErrc {
  kOpenFailed = 1,   // the file cannot be opened or is not a database
  kCorrupt,          // quick_check failed
  kTooNew,           // the schema is newer than this ferryd knows (a downgraded agent)
  kMigrationFailed,  // a migration step failed; the database is unchanged
  kQueryFailed,      // a statement failed (disk full, I/O error, constraint)
};
const std::error_category& StoreCategory() noexcept;
std::error_code make_error_code(StoreErrc e) noexcept;  // NOLINT(readability-identifier-naming)

using WallTime = std::chrono::system_clock::time_point;

// Revision states, as the update path moves through them (docs/architecture.md).
enum class RevisionState {
  kDownloading,
  kStaging,
  kStaged,
  kSwitching,
  kTrial,
  kCommitted,
  kFailed,
  kRolledBack,
  kRemoved,
  kInterrupted,  // its switch or trial was cut short by ferryd stopping; rolled back, not bad
};
std::string_view ToString(RevisionState s);
std::optional<RevisionState> RevisionStateFromString(std::string_view s);

enum class LayerState { kStaging, kComplete };
std::string_view ToString(LayerState s);

struct AppRecord {
  std::string name;
  std::optional<std::string> current_revision;
  std::optional<std::string> previous_revision;
  WallTime created_at;
};

struct RevisionRecord {
  std::string id;
  std::string app;
  std::string version;
  std::string manifest_digest;
  RevisionState state = RevisionState::kDownloading;
  bool bad = false;
  std::string reason;                // why it failed or was rolled back; empty otherwise
  std::uint32_t start_attempts = 0;  // starts at boot not (yet) known to have succeeded
  std::uint32_t interruptions = 0;   // switches or trials cut short by ferryd stopping
  // The end of its probation after the commit (docs/operations.md, Probation); nullopt: none.
  std::optional<WallTime> probation_until;
  // Ends of its container counted within its probation (a crash loop rolls it back), kept so that
  // a ferryd restart goes on counting.
  std::uint32_t probation_exits = 0;
  // Set when it was marked bad and then retried on purpose: who asked and what it had failed
  // ("technician (ferry retry) after: health check failed …").
  std::string retried;
  WallTime created_at;
  WallTime updated_at;
};

// Durable per-revision counters (RevisionRecord::start_attempts, interruptions, probation_exits).
enum class RevisionCounter { kStartAttempts, kInterruptions, kProbationExits };

struct StepTiming {
  std::string step;
  WallTime started_at;
  std::optional<WallTime> finished_at;
};

struct LayerRecord {
  std::string diff_id;
  LayerState state = LayerState::kStaging;
  std::uint64_t size = 0;
  std::uint32_t references = 0;  // revisions that use this layer
};

struct DownloadRecord {
  std::string digest;
  std::string url;
  std::uint64_t bytes_done = 0;
  std::uint64_t total_bytes = 0;
  std::string validator;  // ETag or Last-Modified of the partial body, for If-Range
  WallTime updated_at;
};

struct JournalEntry {
  std::int64_t id = 0;
  std::string app;
  std::optional<std::string> from_revision;
  std::optional<std::string> to_revision;
  std::string step;
  std::uint32_t attempt = 1;
  WallTime started_at;
  bool finished = false;
};

// The backoff of a fleet release that failed (docs/fleet-operations.md), kept so that a ferryd
// restart does not try it again at once.
struct ReleaseBackoff {
  std::string key;  // app@version#deployment
  std::uint32_t failures = 0;
  WallTime retry_at;
  std::string reported;  // the failure last sent to the server for it
};

struct OutboxEvent {
  std::int64_t sequence = 0;
  std::string kind;  // downloading, staging, switching, trial, committed, failed, rolled-back, …
  std::string app;
  std::string payload;  // JSON object
  WallTime created_at;
  bool delivered = false;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Runs `fn` inside one transaction: everything it writes commits together, or (when it returns
  // an error) nothing does. Nested calls join the outer transaction.
  virtual Status InTransaction(const std::function<Status()>& fn) = 0;

  // Apps.
  virtual Status PutApp(const std::string& name) = 0;  // creates it if absent
  virtual Result<std::vector<AppRecord>> ListApps() = 0;
  virtual Result<AppRecord> GetApp(const std::string& name) = 0;
  virtual Status SetAppRevisions(const std::string& app, std::optional<std::string> current,
                                 std::optional<std::string> previous) = 0;

  // Revisions and their per-step timings.
  virtual Status AddRevision(const RevisionRecord& revision) = 0;
  virtual Result<RevisionRecord> GetRevision(const std::string& id) = 0;
  virtual Result<std::vector<RevisionRecord>> ListRevisions(const std::string& app) = 0;
  virtual Status SetRevisionState(const std::string& id, RevisionState state,
                                  const std::string& reason = {}) = 0;
  virtual Status MarkRevisionBad(const std::string& id, const std::string& reason) = 0;
  // Lifts the bad mark of a revision retried on purpose, keeping `retried` (who, and why it had
  // been marked bad) for the history.
  virtual Status RetryRevision(const std::string& id, const std::string& retried) = 0;
  // Adds one to a counter of the revision in one committed write; returns the new value.
  virtual Result<std::uint32_t> CountRevision(const std::string& id, RevisionCounter counter) = 0;
  virtual Status ResetRevisionCount(const std::string& id, RevisionCounter counter) = 0;
  // Records (or with nullopt clears) the end of the revision's probation.
  virtual Status SetProbation(const std::string& id, std::optional<WallTime> until) = 0;
  virtual Status StartStep(const std::string& revision, const std::string& step) = 0;
  virtual Status FinishStep(const std::string& revision, const std::string& step) = 0;
  virtual Result<std::vector<StepTiming>> ListSteps(const std::string& revision) = 0;

  // Layers and which revisions reference them.
  virtual Status PutLayer(const std::string& diff_id, LayerState state, std::uint64_t size) = 0;
  virtual Result<std::optional<LayerRecord>> GetLayer(const std::string& diff_id) = 0;
  virtual Result<std::vector<LayerRecord>> ListLayers() = 0;
  virtual Status RemoveLayer(const std::string& diff_id) = 0;  // fails while referenced
  virtual Status SetRevisionLayers(const std::string& revision,
                                   const std::vector<std::string>& diff_ids) = 0;

  // Downloads in progress.
  virtual Status PutDownload(const DownloadRecord& download) = 0;
  virtual Result<std::optional<DownloadRecord>> GetDownload(const std::string& digest) = 0;
  virtual Status RemoveDownload(const std::string& digest) = 0;

  // The update journal: intent recorded before acting, finished after.
  virtual Result<std::int64_t> BeginJournal(const JournalEntry& entry) = 0;
  virtual Status FinishJournal(std::int64_t id) = 0;
  virtual Result<std::vector<JournalEntry>> UnfinishedJournal() = 0;

  // The event outbox, delivered to the server in sequence order.
  virtual Result<std::int64_t> AppendEvent(const std::string& kind, const std::string& app,
                                           const std::string& payload) = 0;
  virtual Result<std::vector<OutboxEvent>> PendingEvents(std::size_t limit) = 0;
  virtual Status MarkDelivered(std::int64_t up_to_sequence) = 0;
  // The newest event of `kind` about `app`, delivered or not; nullopt when there is none.
  virtual Result<std::optional<OutboxEvent>> LastEvent(const std::string& app,
                                                       const std::string& kind) = 0;

  // Backoffs of failed fleet releases.
  virtual Status PutBackoff(const ReleaseBackoff& backoff) = 0;
  virtual Result<std::vector<ReleaseBackoff>> ListBackoffs() = 0;
  // Forgets the backoff of `key`; of every release when `key` is empty.
  virtual Status RemoveBackoff(const std::string& key) = 0;

  // Trusted TUF metadata and the time floor, as the trust module needs them.
  virtual trust::MetadataStore& Metadata() = 0;
};

// Opens (creating if needed) the database at `path`: WAL, synchronous=FULL, foreign keys on,
// quick_check, then every pending migration in one transaction. Record times are `clock`'s wall
// time; the clock is not owned and outlives the store.
Result<std::unique_ptr<StateStore>> OpenStateStore(const std::filesystem::path& path,
                                                   const Clock& clock);

// The schema version this build migrates to.
int LatestSchemaVersion();

}  // namespace ferry::store

template <>
struct std::is_error_code_enum<ferry::store::StoreErrc> : std::true_type {};
