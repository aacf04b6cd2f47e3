#include "ferry/update/fetch_settings.hpp"

namespace ferry::update {

void ApplyConfig(const config::Config& config, fetch::BlobFetcherOptions& options) {
  options.rate_limit = config.limits.download_rate_limit;
  options.min_throughput = config.limits.min_throughput;
  options.min_throughput_window = config.limits.min_throughput_window;
  options.proxy = config.proxy;
  options.ca_file = config.ca_file.string();
}

}  // namespace ferry::update
