#include "ferry/fetch/curl_http_client.hpp"

#include <curl/curl.h>

#include <mutex>

namespace ferry::fetch {
namespace {

struct Transfer {
  std::string body;
  std::uint64_t max_bytes = 0;
  bool too_large = false;
  const CancelToken* cancel = nullptr;
};

// Called by curl about once a second and on every chunk: a non-zero return aborts the transfer.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* t = static_cast<const Transfer*>(user);
  return t->cancel != nullptr && t->cancel->cancelled() ? 1 : 0;
}

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->body.size() + n > t->max_bytes) {
    t->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(const CurlOptions& options) : options_(options) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<std::string> Get(const std::string& url, std::uint64_t max_bytes) override {
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return Fail(FetchErrc::kBadUrl, "GET " + url + ": only http and https are supported");
    }
    std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
    if (!curl) {
      return Fail(FetchErrc::kTransport, "GET " + url + ": cannot create a transfer");
    }
    Transfer t;
    t.max_bytes = max_bytes;
    t.cancel = options_.cancel;
    if (t.cancel != nullptr && t.cancel->cancelled()) {
      return Fail(FetchErrc::kCancelled, "GET " + url + ": cancelled");
    }
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnData);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(options_.total_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.low_speed_time.count()));
    // A declared body longer than the limit is refused before any of it is read.
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(max_bytes > INT64_MAX ? INT64_MAX : max_bytes));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);
    curl_easy_setopt(c, CURLOPT_PROXY, options_.proxy.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    }
    std::unique_ptr<curl_slist, SlistFree> headers;
    if (!options_.bearer_token.empty()) {
      const std::string auth = "Authorization: Bearer " + options_.bearer_token;
      headers.reset(curl_slist_append(nullptr, auth.c_str()));
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    }
    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      const FetchErrc code =
          (status == 404 || status == 410) ? FetchErrc::kNotFound : FetchErrc::kHttpStatus;
      return Fail(code, "GET " + url + ": HTTP " + std::to_string(status));
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
      return Fail(FetchErrc::kCancelled, "GET " + url + ": cancelled");
    }
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Fail(FetchErrc::kTooLarge,
                  "GET " + url + ": body longer than " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Fail(FetchErrc::kTimeout, "GET " + url + ": " + curl_easy_strerror(rc));
    }
    if (rc != CURLE_OK) {
      return Fail(FetchErrc::kTransport, "GET " + url + ": " + curl_easy_strerror(rc));
    }
    if (status < 200 || status > 299) {
      return Fail(FetchErrc::kHttpStatus, "GET " + url + ": HTTP " + std::to_string(status));
    }
    return std::move(t.body);
  }

 private:
  CurlOptions options_;
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient(const CurlOptions& options) {
  return std::make_unique<CurlHttpClient>(options);
}

}  // namespace ferry::fetch
