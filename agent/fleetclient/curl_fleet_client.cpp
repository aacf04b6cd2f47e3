#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "ferry/core/text.hpp"
#include "ferry/fetch/http_headers.hpp"
#include "ferry/fleetclient/fleet_client.hpp"
#include "ferry/fleetclient/messages.hpp"

namespace ferry::fleetclient {
namespace {

// Header bytes a reply may send before the transfer is aborted; the documented ones need < 1 KiB.
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

struct Reply {
  long status = 0;
  std::string body;
  std::string etag;
  std::string retry_after;
  std::size_t header_bytes = 0;
  bool too_large = false;
  const fetch::CancelToken* cancel = nullptr;
};

// Called by curl about once a second and on every chunk: a non-zero return aborts the transfer.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* r = static_cast<const Reply*>(user);
  return r->cancel != nullptr && r->cancel->cancelled() ? 1 : 0;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Reply*>(user);
  const size_t n = size * count;
  r->header_bytes += n;
  if (r->header_bytes > kMaxHeaderBytes) {
    r->too_large = true;
    return 0;
  }
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
    line.remove_suffix(1);
  }
  if (line.starts_with("HTTP/")) {
    // A new response (after an interim 1xx): forget the headers of the one before.
    r->etag.clear();
    r->retry_after.clear();
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    return n;
  }
  std::string name(line.substr(0, colon));
  std::ranges::transform(name, name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string_view value = TrimHttpSpace(line.substr(colon + 1));
  if (name == "etag") {
    r->etag = value;
  } else if (name == "retry-after") {
    r->retry_after = value;
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Reply*>(user);
  const size_t n = size * count;
  if (r->body.size() + n > kMaxReplyBytes) {
    r->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  r->body.append(data, n);
  return n;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Characters that would let a configured value end a header line early.
bool HeaderSafe(std::string_view s) {
  return std::ranges::none_of(s, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

class CurlFleetClient final : public FleetClient {
 public:
  CurlFleetClient(const Clock& clock, ClientOptions options)
      : clock_(clock), options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    while (options_.base_url.ends_with('/')) {
      options_.base_url.pop_back();
    }
  }

  Result<std::optional<Assignment>> GetAssignment(const std::string& etag) override {
    if (!etag.empty() && !ValidEtag(etag)) {
      return Fail(Errc::kInvalidArgument, "GetAssignment: the etag cannot be sent in a header");
    }
    std::vector<std::string> headers;
    if (!etag.empty()) {
      headers.push_back("If-None-Match: " + etag);
    }
    const std::string what = "GET " + Url("/v1/device/assignment");
    auto reply = Perform("GET", "/v1/device/assignment", nullptr, headers);
    if (!reply) {
      return Fail(reply.error());
    }
    if (reply->status == 304 && !etag.empty()) {
      return std::optional<Assignment>();
    }
    FERRY_TRY_STATUS(ExpectOk(*reply), what);
    auto assignment = ParseAssignment(reply->body);
    if (!assignment) {
      return Fail(std::move(assignment.error()).WithContext(what));
    }
    if (!reply->etag.empty() && !ValidEtag(reply->etag)) {
      return Fail(FleetClientErrc::kMalformed,
                  what + ": ETag header is not 1-256 visible characters");
    }
    assignment->etag = std::move(reply->etag);
    return std::optional<Assignment>(std::move(*assignment));
  }

  Result<std::int64_t> PostEvents(const std::vector<DeviceEvent>& events) override {
    const std::string body = EventsBody(events);
    const std::string what = "POST " + Url("/v1/device/events");
    auto reply = Perform("POST", "/v1/device/events", &body, {"Content-Type: application/json"});
    if (!reply) {
      return Fail(reply.error());
    }
    FERRY_TRY_STATUS(ExpectOk(*reply), what);
    auto highest = ParseEventsReply(reply->body);
    if (!highest) {
      return Fail(std::move(highest.error()).WithContext(what));
    }
    return *highest;
  }

  Status PutInventory(const nlohmann::json& inventory) override {
    if (!inventory.is_object()) {
      return Fail(Errc::kInvalidArgument, "PutInventory: the inventory must be a JSON object");
    }
    const std::string body =
        inventory.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string what = "PUT " + Url("/v1/device/inventory");
    auto reply = Perform("PUT", "/v1/device/inventory", &body, {"Content-Type: application/json"});
    if (!reply) {
      return Fail(reply.error());
    }
    FERRY_TRY_STATUS(ExpectOk(*reply), what);
    FERRY_TRY_STATUS(ParseInventoryReply(reply->body), what);
    return Ok();
  }

  void CloseConnection() override {
    std::lock_guard lock(mu_);
    curl_.reset();
  }

  std::optional<std::chrono::seconds> RetryAfter() const override {
    std::lock_guard lock(retry_mu_);
    return retry_after_;
  }

 private:
  std::string Url(std::string_view path) const { return options_.base_url + std::string(path); }

  Status CheckOptions() const {
    const std::string& url = options_.base_url;
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return Fail(FleetClientErrc::kBadUrl,
                  "fleet URL \"" + url + "\": only http:// and https:// are supported");
    }
    if (url.find_first_of("?# \t\r\n") != std::string::npos || !HeaderSafe(url)) {
      return Fail(FleetClientErrc::kBadUrl,
                  "fleet URL \"" + url + "\": no query, fragment or spaces allowed");
    }
    if (options_.token.empty() || !HeaderSafe(options_.token)) {
      return Fail(Errc::kInvalidArgument, "the device token is empty or holds a line break");
    }
    if (options_.cert_file.empty() != options_.key_file.empty()) {
      return Fail(Errc::kInvalidArgument, "a client certificate needs its key, and the other way");
    }
    return Ok();
  }

  // One request; `body` null for none. Fails only when no HTTP status came back (or the reply
  // was too large); statuses are judged by the caller.
  Result<Reply> Perform(const char* method, std::string_view path, const std::string* body,
                        const std::vector<std::string>& extra_headers) {
    const std::string url = Url(path);
    const std::string what = std::string(method) + " " + url;
    FERRY_TRY_STATUS(CheckOptions(), what);

    SetRetryAfter(std::nullopt);
    std::lock_guard lock(mu_);
    if (!curl_) {
      curl_.reset(curl_easy_init());
      if (!curl_) {
        return Fail(FleetClientErrc::kTransport, what + ": cannot create a transfer");
      }
    }
    CURL* c = curl_.get();
    // Reset clears the options of the last request but keeps its connection open for this one.
    curl_easy_reset(c);
    Reply reply;
    reply.cancel = options_.cancel;
    if (reply.cancel != nullptr && reply.cancel->cancelled()) {
      return Fail(FleetClientErrc::kTransport, what + ": cancelled");
    }
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &reply);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(options_.total_timeout.count()));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxReplyBytes));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);
    curl_easy_setopt(c, CURLOPT_PROXY, options_.proxy.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!options_.ca_file.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    }
    if (!options_.cert_file.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, options_.cert_file.c_str());
      curl_easy_setopt(c, CURLOPT_SSLKEY, options_.key_file.c_str());
    }
    if (body != nullptr) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    std::unique_ptr<curl_slist, SlistFree> headers;
    const auto add = [&](const std::string& line) {
      headers.reset(curl_slist_append(headers.release(), line.c_str()));
    };
    add("Authorization: Bearer " + options_.token);
    add("Accept: application/json");
    add("Expect:");  // no 100-continue round trip for the small bodies sent here
    for (const auto& line : extra_headers) {
      add(line);
    }
    if (!headers) {
      return Fail(FleetClientErrc::kTransport, what + ": out of memory building the request");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    const CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    if (reply.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Fail(FleetClientErrc::kMalformed,
                  what + ": reply larger than " + std::to_string(kMaxReplyBytes) + " bytes");
    }
    switch (rc) {
      case CURLE_OK:
        break;
      case CURLE_ABORTED_BY_CALLBACK:
        return Fail(FleetClientErrc::kTransport, what + ": cancelled");
      case CURLE_OPERATION_TIMEDOUT:
        return Fail(FleetClientErrc::kTimeout, what + ": " + curl_easy_strerror(rc));
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return Fail(FleetClientErrc::kBadUrl, what + ": " + curl_easy_strerror(rc));
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_ISSUER_ERROR:
        return Fail(FleetClientErrc::kTransport,
                    what + ": TLS peer refused: " + curl_easy_strerror(rc));
      default:
        return Fail(FleetClientErrc::kTransport, what + ": " + curl_easy_strerror(rc));
    }
    if ((reply.status == 429 || reply.status == 503) && !reply.retry_after.empty()) {
      if (auto delay = fetch::ParseRetryAfter(reply.retry_after, clock_.WallNow())) {
        SetRetryAfter(std::min(*delay, options_.max_retry_after));
      }
    }
    return reply;
  }

  void SetRetryAfter(std::optional<std::chrono::seconds> delay) {
    std::lock_guard lock(retry_mu_);
    retry_after_ = delay;
  }

  // Turns every status but 200 into the error the header promises.
  Status ExpectOk(const Reply& reply) const {
    if (reply.status == 200) {
      return Ok();
    }
    std::string message = "HTTP " + std::to_string(reply.status);
    if (const std::string text = ServerErrorText(reply.body); !text.empty()) {
      message += ": " + text;
    }
    FleetClientErrc code = FleetClientErrc::kMalformed;
    if (reply.status == 401) {
      code = FleetClientErrc::kUnauthorized;
    } else if (reply.status == 403) {
      code = FleetClientErrc::kForbidden;
    } else if (reply.status == 429) {
      code = FleetClientErrc::kRateLimited;
    } else if (reply.status >= 500 && reply.status <= 599) {
      code = FleetClientErrc::kServer;
    } else if (reply.status >= 400 && reply.status <= 499) {
      code = FleetClientErrc::kRejected;
    } else if (reply.status >= 300 && reply.status <= 399 && reply.status != 304) {
      message += " (redirects are not followed)";
    } else {
      message += " (not a status the fleet API answers with)";
    }
    return Fail(code, std::move(message));
  }

  const Clock& clock_;
  ClientOptions options_;
  std::mutex mu_;  // one transfer at a time on curl_, which keeps the connection between calls
  std::unique_ptr<CURL, CurlFree> curl_;
  mutable std::mutex retry_mu_;
  std::optional<std::chrono::seconds> retry_after_;
};

}  // namespace

std::unique_ptr<FleetClient> MakeFleetClient(const Clock& clock, ClientOptions options) {
  return std::make_unique<CurlFleetClient>(clock, std::move(options));
}

}  // namespace ferry::fleetclient
