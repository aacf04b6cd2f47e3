// HttpClient through libcurl, for http and https URLs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ferry/fetch/blob_fetcher.hpp"
#include "ferry/fetch/http_client.hpp"

namespace ferry::fetch {

struct CurlOptions {
  std::chrono::seconds connect_timeout{15};
  // The whole transfer must end within this time.
  std::chrono::seconds total_timeout{300};
  // A transfer slower than low_speed_bytes per second for low_speed_time fails (slow retrieval).
  long low_speed_bytes = 1;
  std::chrono::seconds low_speed_time{30};
  std::string proxy;    // e.g. "http://proxy:3128"; empty = no proxy (environment ignored)
  std::string ca_file;  // PEM bundle for HTTPS; empty = the system's. Peers are always verified.
  std::string bearer_token;  // sent as "Authorization: Bearer <token>" when not empty
  // Not owned; when cancelled, a transfer in progress ends within about a second with
  // FetchErrc::kCancelled and new ones fail at once. Null: never cancelled.
  const CancelToken* cancel = nullptr;
};

std::unique_ptr<HttpClient> MakeCurlHttpClient(const CurlOptions& options = {});

}  // namespace ferry::fetch
