// The device's side of the fleet API (docs/fleet-api.md): what the device should run, the events
// it reports, its inventory. Blocking calls over libcurl, meant for one of ferryd's worker threads.
//
// Everything a server sends is treated as hostile: replies are capped at kMaxReplyBytes, redirects
// are never followed, and a reply that is not exactly as documented fails with kMalformed, never
// with a crash or a guess.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/fetch/blob_fetcher.hpp"

namespace ferry::fleetclient {

enum class FleetClientErrc {
  kUnauthorized = 1,  // 401: the token is unknown or the device was revoked
  kForbidden,         // 403: the token is not a device token
  kRateLimited,       // 429: see FleetClient::RetryAfter()
  kServer,            // 5xx (503 may carry Retry-After too)
  kRejected,          // any other 4xx; the message has the server's "error" text
  kMalformed,         // the reply is not as documented (status, headers, JSON, size)
  kTransport,         // connection, TLS or protocol failure
  kTimeout,           // the connect or total deadline passed
  kBadUrl,            // base_url is not a usable http(s) URL
};

const std::error_category& FleetClientCategory() noexcept;
std::error_code make_error_code(
    FleetClientErrc e) noexcept;  // NOLINT(readability-identifier-naming): ADL hook

// Replies longer than this are refused (kMalformed) and their transfer is aborted.
inline constexpr std::uint64_t kMaxReplyBytes = 1 << 20;
// The server takes at most this many events per POST (more: 413, kRejected).
inline constexpr std::size_t kMaxEventsPerBatch = 1000;

// One app's entry in the assignment: run `version` of `app`, as ordered by `deployment`.
struct AssignedApp {
  std::string app;         // [a-z0-9][a-z0-9._-]{0,63}
  std::string version;     // semver 2.0.0
  std::string deployment;  // e.g. "d-17"
  bool downgrade = false;  // a revert: the release must still be signed as an allowed downgrade
  bool retry_bad = false;  // try it once more even if this device marked it bad

  bool operator==(const AssignedApp&) const = default;
};

struct Assignment {
  std::string device;             // the device id the server knows this token by
  std::vector<AssignedApp> apps;  // apps not listed: keep running what is installed
  std::string etag;  // the reply's ETag (empty if none): pass it to the next GetAssignment

  bool operator==(const Assignment&) const = default;
};

// An event for POST /v1/device/events. Empty strings and time 0 are left out of the request.
struct DeviceEvent {
  std::int64_t sequence = 0;  // > 0, unique per device, ascending as events happen
  std::string kind;  // downloading, staging, switching, trial, committed, failed, rolled-back,
                     // already-installed
  std::string app;
  std::string version;
  std::string deployment;
  std::string reason;     // at most 4 KiB
  std::int64_t time = 0;  // the device's clock, unix seconds; 0: unknown

  bool operator==(const DeviceEvent&) const = default;
};

struct ClientOptions {
  // Where the fleet API lives, e.g. "https://fleet.example.com" or "http://127.0.0.1:8080/x";
  // requests go to base_url + "/v1/device/...". http and https only; no query or fragment.
  std::string base_url;
  std::string token;    // the device token ("fdt_..."), sent as "Authorization: Bearer <token>"
  std::string ca_file;  // PEM bundle for HTTPS; empty = the system's. Peers are always verified.
  // A client certificate and its key (PEM), for servers that require one (mTLS); both or neither.
  std::string cert_file;
  std::string key_file;
  std::string proxy;  // e.g. "http://proxy:3128"; empty = no proxy (the environment is ignored)
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds total_timeout{60};
  std::chrono::seconds max_retry_after{3600};  // a longer Retry-After is cut to this
  // Not owned; once cancelled, a request in progress ends within about a second and new ones
  // fail at once, with kTransport ("cancelled"). Null: never cancelled.
  const fetch::CancelToken* cancel = nullptr;
};

// Failures carry FleetClientErrc codes, except a local mistake (an etag or token that cannot go
// into a header, an inventory that is not an object): Errc::kInvalidArgument, nothing sent.
// Messages name the method and URL, the HTTP status and the server's "error" text:
// "GET https://fleet/v1/device/assignment: HTTP 401: unknown token".
//
// Thread-safe: calls from several threads take turns (one transfer at a time, on a connection kept
// open between calls until CloseConnection()). RetryAfter() never waits for a transfer.
class FleetClient {
 public:
  virtual ~FleetClient() = default;

  // GET /v1/device/assignment, with If-None-Match: `etag` when it is not empty. Returns nullopt
  // when the server answers 304 (the assignment has not changed since `etag`).
  virtual Result<std::optional<Assignment>> GetAssignment(const std::string& etag) = 0;

  // POST /v1/device/events. Returns the server's highest_sequence: every event up to it is stored
  // (now or before) and may be dropped from the device's outbox. Posting an event twice is
  // harmless.
  virtual Result<std::int64_t> PostEvents(const std::vector<DeviceEvent>& events) = 0;

  // PUT /v1/device/inventory with `inventory`, which must be a JSON object.
  virtual Status PutInventory(const nlohmann::json& inventory) = 0;

  // The delay the server asked for with Retry-After on the last reply, when that reply was a 429
  // or 503 with a valid Retry-After (cut to max_retry_after); nullopt otherwise.
  virtual std::optional<std::chrono::seconds> RetryAfter() const = 0;

  // Closes the connection kept open between calls and frees what it holds (TLS state, buffers);
  // the next call opens a new one. Waits for a transfer in progress. Never fails.
  virtual void CloseConnection() = 0;
};

// `clock` (not owned; outlives the client) gives the wall time that Retry-After dates are read
// against.
std::unique_ptr<FleetClient> MakeFleetClient(const Clock& clock, ClientOptions options);

}  // namespace ferry::fleetclient

template <>
struct std::is_error_code_enum<ferry::fleetclient::FleetClientErrc> : std::true_type {};
