// The fleet service: devices and their tokens, what each device should run (deployments rolled
// out in phases), the events and inventory devices report. State lives in one SQLite database
// (WAL); every method is one transaction, so a crash leaves either the old or the new state.
//
// Thread-safe: methods serialize on one mutex (a single connection; the work per call is a few
// indexed statements). Time comes from the Clock given at Open: wall time for records and phase
// waits, so tests drive phase waits with ManualClock.
//
// Failures carry FleetErrc codes: kBadRequest for malformed input (naming the field),
// kNotFound, kConflict for a state that forbids the call, kUnauthorized for tokens, and the store
// codes (kOpenFailed, kTooNew, kMigrationFailed, kQueryFailed) for the database.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"

namespace ferry::fleet {

// Validation of names that come from outside: device ids [A-Za-z0-9._:-]{1,128}, tags
// [A-Za-z0-9._:=-]{1,64}, app names [a-z0-9][a-z0-9._-]{0,63}.
bool ValidDeviceId(std::string_view id);
bool ValidTag(std::string_view tag);
bool ValidAppName(std::string_view app);

struct Device {
  std::string id;
  std::vector<std::string> tags;  // sorted
  std::int64_t created_at = 0;    // unix seconds
  std::optional<std::int64_t> revoked_at;
  std::optional<std::int64_t> last_seen_at;
  std::optional<std::string> inventory;  // the last inventory JSON object, as received
  std::optional<std::int64_t> inventory_at;
};

struct ProvisionedDevice {
  Device device;
  std::string token;  // shown once; only its hash is stored
};

// One app's entry in a device's assignment.
struct AppAssignment {
  std::string app;
  std::string version;
  std::string deployment;
  bool downgrade = false;
  bool retry_bad = false;  // the device tries the release once more even if it marked it bad
};

// Bounds of an event's numbers: sequences stay exact in JSON (2^53 - 1), device times are unix
// seconds before the year 10000.
inline constexpr std::int64_t kMaxEventSequence = (std::int64_t{1} << 53) - 1;
inline constexpr std::int64_t kMaxEventTime = 253402300799;

// Event kinds a device reports (DESIGN.md, Fleet API).
bool ValidEventKind(std::string_view kind);

struct Event {
  std::int64_t sequence = 0;  // the device's own counter: > 0, unique per device
  std::string kind;
  std::string app;
  std::string version;     // may be empty
  std::string deployment;  // may be empty: then the device's newest deployment of app+version
  std::string reason;      // may be empty
  std::optional<std::int64_t> device_time;  // the device's clock, unix seconds
  std::int64_t received_at = 0;             // set by the server
};

struct EventsAck {
  int stored = 0;
  int duplicates = 0;                 // sequences already stored: acknowledged, not stored again
  std::int64_t highest_sequence = 0;  // the highest sequence stored for this device, ever
};

struct DeploymentSpec {
  std::string app;
  std::string version;  // semver
  std::vector<std::string> devices;
  std::vector<std::string> tags;  // a device matches when it has any of these tags
  std::vector<int> phases{100};   // cumulative percentages, ascending, the last 100
  // Wait between phases; without it phases advance only by Promote.
  std::optional<std::chrono::seconds> phase_wait;
  double max_failure_ratio = 0.1;
  bool downgrade = false;
  // Devices that marked this release bad try it once more (a cause fixed on their side).
  bool retry_bad = false;
};

struct DeviceFailure {
  std::string device;
  std::string state;  // failed or rolled-back
  std::string reason;
};

struct Deployment {
  std::string id;
  std::string app;
  std::string version;
  bool downgrade = false;
  bool retry_bad = false;
  std::string state;  // active, paused, aborted, completed
  std::vector<int> phases;
  int current_phase = 0;
  std::optional<std::int64_t> phase_wait;  // seconds
  double max_failure_ratio = 0;
  std::vector<std::string> target_devices;
  std::vector<std::string> target_tags;
  std::string reverts;  // the deployment this one reverts, if any
  std::string pause_reason;
  std::int64_t created_at = 0;
  std::int64_t phase_started_at = 0;
  std::int64_t targeted = 0;  // devices the deployment resolved to at creation
  std::int64_t released = 0;  // of which in phases reached so far
  // Released devices per state (pending, downloading, installing, committed, failed,
  // rolled-back), every state present.
  std::map<std::string, std::int64_t> counts;
  std::vector<DeviceFailure> failures;
};

// How much of its event history the database keeps per device. Past either bound, the oldest
// events are compacted: removed, and counted per kind (EventRetention). A device's states in
// deployments never come from kept events, so compaction leaves every deployment's counts exact.
struct FleetOptions {
  std::int64_t max_events_per_device = 1000;
  std::int64_t max_event_bytes_per_device = 1 << 20;  // reason, names and 64 bytes a row
};

// What is known about a device's events beyond the kept ones.
struct EventRetention {
  std::int64_t kept_events = 0;
  std::int64_t kept_bytes = 0;
  std::int64_t compacted_through = 0;  // every sequence up to this was compacted
  std::int64_t compacted_events = 0;
  std::map<std::string, std::int64_t> compacted_by_kind;
};

class Fleet {
 public:
  // Opens (creating, mode 0600) the database at `path`, migrates it and checks it. An existing
  // database readable by others is made 0600. `clock` must outlive the Fleet.
  static Result<std::unique_ptr<Fleet>> Open(const std::filesystem::path& path, Clock& clock,
                                             FleetOptions options = {});
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Devices. AddDevice fails with kConflict when the id exists (revoked or not).
  Result<ProvisionedDevice> AddDevice(std::string_view id, std::span<const std::string> tags);
  // All devices, or those carrying `tag`, ordered by id.
  Result<std::vector<Device>> ListDevices(std::optional<std::string_view> tag = std::nullopt);
  Result<Device> GetDevice(std::string_view id);
  Result<Device> TagDevice(std::string_view id, std::span<const std::string> add,
                           std::span<const std::string> remove);
  // Revoking is final: the token stops working at once (401). Revoking twice is fine.
  Result<Device> RevokeDevice(std::string_view id);

  // The device id for a bearer token; kUnauthorized for unknown and revoked tokens.
  Result<std::string> AuthenticateDevice(std::string_view token);

  // Device side, for the authenticated device only. Assignment is ordered by app.
  Result<std::vector<AppAssignment>> Assignment(std::string_view device_id);
  // Stores a batch in one transaction: all or nothing. Each event's sequence must be > 0 and
  // appear once in the batch; a sequence stored before is acknowledged, not stored again. Events
  // move the device's state in the deployment they name, in sequence order (an older sequence
  // arriving late never overrides a newer one); an event naming a deployment that does not
  // target this device is stored and changes nothing else. Past the FleetOptions bounds, the
  // device's oldest events are compacted into per-kind counts in the same transaction; a
  // compacted sequence sent again counts as a duplicate.
  Result<EventsAck> RecordEvents(std::string_view device_id, std::vector<Event> events);
  // The device's event retention figures (kept, compacted, compacted per kind).
  Result<EventRetention> DeviceEventRetention(std::string_view device_id);
  // The device's most recent events, newest first.
  Result<std::vector<Event>> DeviceEvents(std::string_view device_id, int limit);
  // Stores `inventory` (a JSON object, already validated by the caller) as last seen.
  Status PutInventory(std::string_view device_id, std::string_view inventory);

  // Whether app `version` can be deployed: Ok, or kBadRequest saying why not (the repository
  // this server serves does not list it as a signed release). Called with the Fleet's lock held;
  // it must not call back into the Fleet.
  using ReleaseCheck = std::function<Status(const std::string& app, const std::string& version)>;
  // Installs the check that CreateDeployment and Revert apply before anything is stored. Without
  // one (a fleet server that does not serve the repository), any valid version is accepted.
  void SetReleaseCheck(ReleaseCheck check);

  // Deployments. Create resolves the targets now (revoked devices excluded) and assigns each
  // device its phase: devices are ordered by sha256(deployment id, device id), and phase k takes
  // the first ceil(phases[k] * N / 100) of them. kBadRequest when no device matches.
  Result<Deployment> CreateDeployment(const DeploymentSpec& spec);
  Result<std::vector<Deployment>> ListDeployments();
  Result<Deployment> GetDeployment(std::string_view id);
  // Pause: active → paused. Resume: paused → active (the failures of phases released so far are
  // accepted; the failure check applies again from the next phase). Abort: active or paused →
  // aborted, for good. Promote: releases the next phase of an active deployment now.
  // Each fails with kConflict when the deployment's state does not allow it.
  Result<Deployment> Pause(std::string_view id, std::string_view reason);
  Result<Deployment> Resume(std::string_view id);
  Result<Deployment> Abort(std::string_view id);
  Result<Deployment> Promote(std::string_view id);
  // Aborts `id` (unless finished) and creates a deployment of the version that preceded it for
  // the same app (the highest earlier-deployed version below it, or `version` when given) with
  // downgrade set, to the devices `id` had released. kConflict when there is no earlier version.
  Result<Deployment> Revert(std::string_view id, std::optional<std::string> version,
                            std::vector<int> phases, std::optional<std::chrono::seconds> phase_wait,
                            double max_failure_ratio);

  // Applies what time and events decide: pauses an active deployment whose phase failure ratio
  // passed its maximum, advances phases whose wait passed with all their devices done, marks
  // finished deployments completed. Called after failure events and operator actions, by
  // Assignment at most once per second of clock time, and by the server's timer.
  Status Reconcile();

 private:
  struct Impl;
  explicit Fleet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::fleet
