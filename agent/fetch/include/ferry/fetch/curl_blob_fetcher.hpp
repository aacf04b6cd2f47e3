// BlobFetcher through libcurl, for http and https URLs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/fetch/backoff.hpp"
#include "ferry/fetch/blob_fetcher.hpp"

namespace ferry::fetch {

// Waits between attempts. The default waits on the cancel token; tests record the delays and
// return at once.
using SleepFn = std::function<void(std::chrono::milliseconds delay, const CancelToken* cancel)>;

struct BlobFetcherOptions {
  std::chrono::seconds connect_timeout{15};
  // A transfer below min_throughput bytes per second for min_throughput_window fails with
  // FetchErrc::kTimeout (slow retrieval) and is retried.
  std::uint64_t min_throughput = 1024;
  std::chrono::seconds min_throughput_window{30};
  std::uint64_t rate_limit = 0;  // bytes per second; 0 = unlimited
  std::string proxy;             // e.g. "http://proxy:3128"; empty = no proxy (environment ignored)
  std::string ca_file;  // PEM bundle for HTTPS; empty = the system's. Peers are always verified.
  std::string bearer_token;  // sent as "Authorization: Bearer <token>" when not empty
  BackoffPolicy backoff;
  std::chrono::seconds max_retry_after{900};  // a longer Retry-After is cut to this
  ResumeStore* resume_store = nullptr;        // not owned; null: nothing survives the call
  SleepFn sleep;                              // null: wait on the cancel token
  std::uint64_t seed = 0;                     // jitter seed; 0: from std::random_device
};

// `clock` (not owned; outlives the fetcher) gives the wall time that Retry-After dates are read
// against.
std::unique_ptr<BlobFetcher> MakeCurlBlobFetcher(const Clock& clock, BlobFetcherOptions options);

}  // namespace ferry::fetch
