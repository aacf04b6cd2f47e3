// ferryd's download settings (ferryd.toml) for the blob fetcher.
#pragma once

#include "ferry/config/config.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"

namespace ferry::update {

// Copies the download settings of ferryd's configuration into `options`: rate limit, minimum
// throughput and its window, proxy and CA file. (The device token is read from its file by ferryd.)
void ApplyConfig(const config::Config& config, fetch::BlobFetcherOptions& options);

}  // namespace ferry::update
