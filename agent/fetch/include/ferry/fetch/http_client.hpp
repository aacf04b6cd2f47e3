// Fetching bytes over HTTP(S). The trust module and the engine see only this interface; the
// libcurl implementation lives in agent/fetch/ and tests use in-memory fakes.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "ferry/core/result.hpp"

namespace ferry::fetch {

enum class FetchErrc {
  kNotFound = 1,    // HTTP 404 or 410: the resource does not exist
  kHttpStatus,      // any other non-2xx status
  kTooLarge,        // the body ran past the caller's byte limit; the transfer was aborted
  kTransport,       // connection, TLS or protocol failure
  kTimeout,         // connect or transfer deadline passed
  kBadUrl,          // the URL is malformed or its scheme is not http/https
  kDigestMismatch,  // the downloaded bytes do not hash to the signed digest
  kBadRange,        // a partial response that cannot be used (wrong Content-Range, 416)
  kCancelled,       // the owner cancelled the transfer
  kIo,              // writing or reading the local file failed
};

const std::error_category& FetchCategory() noexcept;
std::error_code make_error_code(FetchErrc e) noexcept;  // NOLINT(readability-identifier-naming)

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // GETs `url` and returns the whole body. Never reads more than `max_bytes` of body: a longer
  // body (by Content-Length or as it streams in) fails with FetchErrc::kTooLarge. A 404 fails with
  // FetchErrc::kNotFound. Blocking; safe to call from one thread at a time per instance.
  virtual Result<std::string> Get(const std::string& url, std::uint64_t max_bytes) = 0;
};

}  // namespace ferry::fetch

template <>
struct std::is_error_code_enum<ferry::fetch::FetchErrc> : std::true_type {};
