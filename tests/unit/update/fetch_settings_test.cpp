#include "ferry/update/fetch_settings.hpp"

#include <gtest/gtest.h>

#include "ferry/config/config.hpp"

namespace ferry::update {
namespace {

TEST(ApplyConfig, CopiesTheDownloadSettingsOfFerrydToml) {
  const auto config = config::ParseConfig(R"(
state_dir = "/var/lib/ferry"
proxy = "http://proxy.example.com:3128"
ca_file = "/etc/ferry/ca.pem"

[limits]
download_rate_limit = 250000
min_throughput = 2048
min_throughput_window = "45s"
)",
                                          "ferryd.toml");
  ASSERT_TRUE(config) << config.error().message();
  fetch::BlobFetcherOptions options;
  ApplyConfig(*config, options);
  EXPECT_EQ(options.rate_limit, 250000u);
  EXPECT_EQ(options.min_throughput, 2048u);
  EXPECT_EQ(options.min_throughput_window, std::chrono::seconds(45));
  EXPECT_EQ(options.proxy, "http://proxy.example.com:3128");
  EXPECT_EQ(options.ca_file, "/etc/ferry/ca.pem");
}

TEST(ApplyConfig, DefaultsMeanNoProxyNoCapAndTheSystemCas) {
  const auto config = config::ParseConfig("state_dir = \"/var/lib/ferry\"\n", "ferryd.toml");
  ASSERT_TRUE(config) << config.error().message();
  fetch::BlobFetcherOptions options;
  options.proxy = "http://stale:1";
  ApplyConfig(*config, options);
  EXPECT_EQ(options.rate_limit, 0u);
  EXPECT_EQ(options.min_throughput, 1024u);
  EXPECT_EQ(options.min_throughput_window, std::chrono::seconds(30));
  EXPECT_TRUE(options.proxy.empty());
  EXPECT_TRUE(options.ca_file.empty());
}

}  // namespace
}  // namespace ferry::update
