// One HTTP request of a blob download: the state libcurl's callbacks share, and the rules that
// decide what a response means for the partial file. Private to agent/fetch.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/fetch/blob_fetcher.hpp"
#include "partial_file.hpp"

namespace ferry::fetch {

// How often progress is written to the resume store during a transfer, for `ferry status` after a
// restart (the partial file's size stays the truth).
inline constexpr std::uint64_t kRecordEvery = 4u << 20;

// The headers of the response being received. A new status line (a 1xx, or a redirect that is
// followed) starts over.
struct ResponseHead {
  long status = 0;
  std::map<std::string, std::string> fields;  // lower-case names, last value wins

  std::string Field(const std::string& name) const {
    const auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  }
};

// What one attempt did.
struct Attempt {
  std::optional<Error> error;
  bool retryable = false;
  bool restart = false;  // the partial bytes cannot be resumed: start again from zero
  std::optional<std::chrono::seconds> retry_after;
};

// State shared with libcurl's callbacks during one request.
struct Transfer {
  PartialFile* file = nullptr;
  const BlobRequest* request = nullptr;
  const ProgressFn* progress = nullptr;
  const CancelToken* cancel = nullptr;
  ResumeStore* resume_store = nullptr;
  std::string* validator = nullptr;
  FetchStats* stats = nullptr;
  std::uint64_t start_offset = 0;
  std::chrono::system_clock::time_point wall_now;  // for Retry-After dates
  ResponseHead head;
  bool decided = false;
  bool accept_body = false;
  bool cut = false;            // the body ran past the signed size and was cut there
  std::uint64_t recorded = 0;  // bytes_done last written to the resume store
  Attempt outcome;
};

// libcurl callbacks; `user` is the Transfer.
size_t OnHeader(char* data, size_t size, size_t count, void* user);
size_t OnBody(char* data, size_t size, size_t count, void* user);
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t);

// Decides the outcome from the headers alone, for a response whose body never reached OnBody.
void DecideWithoutBody(Transfer& t);

}  // namespace ferry::fetch
