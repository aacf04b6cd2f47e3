// Downloading signed blobs (layers and deltas) to a partial file that survives restarts: a broken
// transfer resumes with Range/If-Range from the bytes on disk, no byte past the signed size is
// accepted, and the result counts only when it hashes to the signed digest. The engine sees this
// interface; the libcurl implementation is made by MakeCurlBlobFetcher (curl_blob_fetcher.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "ferry/core/cancel_token.hpp"
#include "ferry/core/result.hpp"

namespace ferry::fetch {

// Cancels work in progress from another thread: a transfer stops at its next progress tick (at
// most about a second), a backoff wait at once.
using CancelToken = ferry::CancelToken;

// What is remembered about a download in progress between attempts and across restarts of ferryd
// (the store's downloads table). The bytes themselves are the partial file; bytes_done is for
// `ferry status` and is never trusted over the file's size.
struct ResumeRecord {
  std::string url;
  std::uint64_t bytes_done = 0;
  std::uint64_t total_bytes = 0;
  std::string validator;  // strong ETag or Last-Modified of the partial body, for If-Range
};

// Where resume records live, keyed by blob digest. Implementations must be usable from the thread
// running the fetch; errors are returned, never thrown.
class ResumeStore {
 public:
  virtual ~ResumeStore() = default;
  virtual Result<std::optional<ResumeRecord>> Load(const std::string& digest) = 0;
  virtual Status Save(const std::string& digest, const ResumeRecord& record) = 0;
  // Removing an absent record succeeds.
  virtual Status Remove(const std::string& digest) = 0;
};

struct BlobRequest {
  std::string url;
  std::string digest;                  // "sha256:<64 lowercase hex>", as signed
  std::uint64_t size = 0;              // signed size: no byte past it is ever accepted
  std::filesystem::path partial_path;  // e.g. <state>/blobs/partial/<hex>; its directory exists
};

// Called from the fetching thread as bytes arrive (and once at the start with what is on disk).
using ProgressFn = std::function<void(std::uint64_t bytes_done, std::uint64_t total_bytes)>;

struct FetchStats {
  std::uint64_t bytes_received = 0;  // body bytes read from the network, over all attempts
  std::uint64_t resumed_from = 0;    // bytes already on disk when the call started
  std::uint32_t attempts = 0;        // HTTP requests made (0 when the file on disk was complete)
  std::uint32_t restarts = 0;        // times the partial file was discarded and begun again
};

class BlobFetcher {
 public:
  virtual ~BlobFetcher() = default;

  // Brings `request.partial_path` to exactly the signed bytes of the blob, resuming from what is
  // on disk, retrying transient failures (connection loss, timeouts, 408/429/5xx) with backoff and
  // honouring Retry-After. On success the file holds `size` bytes hashing to `digest`, is fsynced,
  // and its resume record is removed; the caller moves it into place. On failure the partial file
  // is kept for a later resume, except after a digest mismatch (FetchErrc::kDigestMismatch), when
  // it is deleted. Errors name the URL. Blocking: run it on a worker thread; `cancel` (may be null)
  // stops it with FetchErrc::kCancelled. One call at a time per partial file.
  virtual Result<FetchStats> Fetch(const BlobRequest& request, const ProgressFn& progress = {},
                                   const CancelToken* cancel = nullptr) = 0;
};

}  // namespace ferry::fetch
