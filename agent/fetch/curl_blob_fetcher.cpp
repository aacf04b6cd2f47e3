#include "ferry/fetch/curl_blob_fetcher.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <random>

#include "blob_transfer.hpp"
#include "ferry/core/log.hpp"
#include "ferry/fetch/http_client.hpp"
#include "partial_file.hpp"

namespace ferry::fetch {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Bytes an attempt must add to count as progress for the give-up rule.
constexpr std::uint64_t kMinProgress = std::uint64_t{16} * 1024;

bool IsDigest(std::string_view s) {
  if (s.size() != 71 || !s.starts_with("sha256:")) {
    return false;
  }
  return std::all_of(s.begin() + 7, s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

class CurlBlobFetcher final : public BlobFetcher {
 public:
  CurlBlobFetcher(const Clock& clock, BlobFetcherOptions options)
      : clock_(clock), options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());
  }

  Result<FetchStats> Fetch(const BlobRequest& request, const ProgressFn& progress,
                           const CancelToken* cancel) override;

 private:
  Attempt RunAttempt(CURL* curl, const BlobRequest& request, PartialFile& file,
                     std::string& validator, const ProgressFn& progress, const CancelToken* cancel,
                     FetchStats& stats);
  Result<FetchStats> Finish(const BlobRequest& request, PartialFile& file, FetchStats stats);
  void Sleep(milliseconds delay, const CancelToken* cancel);
  const Clock& clock_;
  BlobFetcherOptions options_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

void CurlBlobFetcher::Sleep(milliseconds delay, const CancelToken* cancel) {
  if (options_.sleep) {
    options_.sleep(delay, cancel);
  } else if (cancel != nullptr) {
    (void)cancel->WaitFor(delay);
  } else {
    CancelToken never;
    (void)never.WaitFor(delay);
  }
}

Result<FetchStats> CurlBlobFetcher::Finish(const BlobRequest& request, PartialFile& file,
                                           FetchStats stats) {
  const std::string got = file.Digest();
  if (got != request.digest) {
    auto removed = file.Remove();
    if (options_.resume_store != nullptr) {
      (void)options_.resume_store->Remove(request.digest);
    }
    return Fail(FetchErrc::kDigestMismatch,
                "GET " + request.url + ": the " + std::to_string(request.size) +
                    " bytes received hash to " + got + ", not the signed " + request.digest +
                    (removed ? "; partial file deleted"
                             : "; deleting the partial file failed: " + removed.error().message()));
  }
  FERRY_TRY_STATUS(file.Sync(), "GET " + request.url);
  if (options_.resume_store != nullptr) {
    FERRY_TRY_STATUS(options_.resume_store->Remove(request.digest),
                     "GET " + request.url + ": removing the download record");
  }
  return stats;
}

Attempt CurlBlobFetcher::RunAttempt(CURL* c, const BlobRequest& request, PartialFile& file,
                                    std::string& validator, const ProgressFn& progress,
                                    const CancelToken* cancel, FetchStats& stats) {
  Transfer t;
  t.file = &file;
  t.request = &request;
  t.progress = &progress;
  t.cancel = cancel;
  t.resume_store = options_.resume_store;
  t.validator = &validator;
  t.stats = &stats;
  t.start_offset = file.size();
  t.wall_now = clock_.WallNow();
  t.recorded = t.start_offset;

  std::unique_ptr<curl_slist, SlistFree> headers;
  const auto add = [&headers](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  if (t.start_offset > 0) {
    add("Range: bytes=" + std::to_string(t.start_offset) + "-");
    if (!validator.empty()) {
      add("If-Range: " + validator);
    }
  }
  if (!options_.bearer_token.empty()) {
    add("Authorization: Bearer " + options_.bearer_token);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

  const CURLcode rc = curl_easy_perform(c);
  ++stats.attempts;
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  const std::string what = "GET " + request.url;
  if (rc == CURLE_OK) {
    DecideWithoutBody(t);  // an empty body never reached OnBody
  }
  if (t.outcome.error) {
    return std::move(t.outcome);
  }
  if (t.cut || (rc == CURLE_OK && file.size() == request.size)) {
    return {};
  }
  Attempt a;
  a.retryable = true;
  switch (rc) {
    case CURLE_OK:
      a.error = MakeError(FetchErrc::kTransport, what + ": the body ended at byte " +
                                                     std::to_string(file.size()) + " of " +
                                                     std::to_string(request.size));
      break;
    case CURLE_ABORTED_BY_CALLBACK:
      a.error = MakeError(FetchErrc::kCancelled, what + ": cancelled");
      a.retryable = false;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      a.error = MakeError(FetchErrc::kTimeout,
                          what + ": " + curl_easy_strerror(rc) + " (slower than " +
                              std::to_string(options_.min_throughput) + " bytes/s for " +
                              std::to_string(options_.min_throughput_window.count()) + " s)");
      break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      a.error = MakeError(FetchErrc::kBadUrl, what + ": " + curl_easy_strerror(rc));
      a.retryable = false;
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      // A certificate that fails verification does not get better by asking again soon.
      a.error =
          MakeError(FetchErrc::kTransport, what + ": TLS peer refused: " + curl_easy_strerror(rc));
      a.retryable = false;
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      a.error = MakeError(FetchErrc::kHttpStatus, what + ": " + curl_easy_strerror(rc));
      a.retryable = false;
      break;
    default:
      a.error = MakeError(FetchErrc::kTransport, what + ": " + curl_easy_strerror(rc) +
                                                     " at byte " + std::to_string(file.size()) +
                                                     " of " + std::to_string(request.size));
      break;
  }
  return a;
}

Result<FetchStats> CurlBlobFetcher::Fetch(const BlobRequest& request, const ProgressFn& progress,
                                          const CancelToken* cancel) {
  const std::string what = "GET " + request.url;
  if (!request.url.starts_with("http://") && !request.url.starts_with("https://")) {
    return Fail(FetchErrc::kBadUrl, what + ": only http and https are supported");
  }
  if (!IsDigest(request.digest)) {
    return Fail(Errc::kInvalidArgument, what + ": '" + request.digest + "' is not a sha256 digest");
  }
  std::string validator;
  if (options_.resume_store != nullptr) {
    auto record = options_.resume_store->Load(request.digest);
    if (!record) {
      return Fail(std::move(record.error()).WithContext(what + ": reading the download record"));
    }
    // A validator belongs to one server's copy; from another URL it would only cost a restart,
    // and Range alone is safe since the hash decides.
    if (*record && (*record)->url == request.url) {
      validator = (*record)->validator;
    }
  }
  auto opened = PartialFile::Open(request.partial_path, request.size);
  if (!opened) {
    return Fail(std::move(opened.error()).WithContext(what));
  }
  PartialFile& file = *opened;
  FetchStats stats;
  stats.resumed_from = file.size();
  if (progress) {
    progress(file.size(), request.size);
  }
  if (file.size() == request.size) {
    if (file.Digest() == request.digest) {
      return Finish(request, file, stats);
    }
    // Complete but wrong (a torn write before a crash): fetch it again rather than fail.
    FERRY_TRY_STATUS(file.Truncate(), what);
    ++stats.restarts;
    validator.clear();
  }

  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) {
    return Fail(FetchErrc::kTransport, what + ": cannot create a transfer");
  }
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  if (options_.min_throughput > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options_.min_throughput));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(options_.min_throughput_window.count()));
  }
  if (options_.rate_limit > 0) {
    curl_easy_setopt(
        c, CURLOPT_MAX_RECV_SPEED_LARGE,
        static_cast<curl_off_t>(std::min<std::uint64_t>(options_.rate_limit, INT64_MAX)));
  }
  // An explicit empty proxy keeps libcurl from taking one from the environment.
  curl_easy_setopt(c, CURLOPT_PROXY, options_.proxy.c_str());
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  }

  std::uint32_t without_progress = 0;
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) {
      return Fail(FetchErrc::kCancelled, what + ": cancelled");
    }
    const std::uint64_t before = file.size();
    Attempt attempt = RunAttempt(c, request, file, validator, progress, cancel, stats);
    if (!attempt.error) {
      return Finish(request, file, stats);
    }
    if (attempt.restart) {
      FERRY_TRY_STATUS(file.Truncate(), what);
      ++stats.restarts;
      validator.clear();
    }
    if (options_.resume_store != nullptr) {
      const ResumeRecord record{request.url, file.size(), request.size, validator};
      FERRY_TRY_STATUS(options_.resume_store->Save(request.digest, record),
                       what + ": recording the download");
    }
    if (!attempt.retryable) {
      return Fail(std::move(*attempt.error));
    }
    // A trickle is not progress: a server sending a few bytes per attempt must not reset the
    // give-up count forever (slow retrieval).
    const bool progressed = file.size() >= before + std::min(kMinProgress, request.size - before);
    without_progress = progressed && file.size() > before ? 0 : without_progress + 1;
    if (without_progress >= std::max<std::uint32_t>(options_.backoff.attempts, 1)) {
      return Fail(std::move(*attempt.error)
                      .WithContext("giving up after " + std::to_string(without_progress) +
                                   " attempts in a row without progress"));
    }
    milliseconds delay;
    {
      std::lock_guard lock(rng_mu_);
      const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
      delay =
          JitteredBackoff(options_.backoff, without_progress == 0 ? 0 : without_progress - 1, unit);
    }
    if (attempt.retry_after) {
      delay =
          std::max<milliseconds>(delay, std::min(*attempt.retry_after, options_.max_retry_after));
    }
    log::warn("{}; retrying in {} ms (byte {} of {})", attempt.error->message(), delay.count(),
              file.size(), request.size);
    Sleep(delay, cancel);
  }
}

}  // namespace

std::unique_ptr<BlobFetcher> MakeCurlBlobFetcher(const Clock& clock, BlobFetcherOptions options) {
  return std::make_unique<CurlBlobFetcher>(clock, std::move(options));
}

}  // namespace ferry::fetch
