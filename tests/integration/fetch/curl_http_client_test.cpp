// The libcurl HttpClient against a real loopback server.
#include "ferry/fetch/curl_http_client.hpp"

#include <gtest/gtest.h>

#include "loopback_server.hpp"

namespace ferry::fetch {
namespace {

using ferry::testing::LoopbackServer;

TEST(CurlHttpClient, GetsBodyUpToExactLimit) {
  LoopbackServer server;
  server.SetFile("a", "0123456789");
  auto http = MakeCurlHttpClient();
  auto body = http->Get(server.BaseUrl() + "/a", 10);
  ASSERT_TRUE(body) << body.error().String();
  EXPECT_EQ(*body, "0123456789");
}

TEST(CurlHttpClient, NotFoundIsDistinct) {
  LoopbackServer server;
  auto http = MakeCurlHttpClient();
  auto body = http->Get(server.BaseUrl() + "/missing", 100);
  ASSERT_FALSE(body);
  EXPECT_TRUE(body.error().Is(FetchErrc::kNotFound)) << body.error().String();
}

TEST(CurlHttpClient, RefusesBodyOverLimitByContentLengthOrStream) {
  for (const bool omit_length : {false, true}) {
    LoopbackServer server;
    server.SetOmitContentLength(omit_length);
    server.SetFile("big", std::string(4 << 20, 'x'));
    auto http = MakeCurlHttpClient();
    auto body = http->Get(server.BaseUrl() + "/big", 1000);
    ASSERT_FALSE(body);
    EXPECT_TRUE(body.error().Is(FetchErrc::kTooLarge)) << body.error().String();
    server.SetFile("small", "abc");
    auto small = http->Get(server.BaseUrl() + "/small", 3);
    ASSERT_TRUE(small) << small.error().String();
    EXPECT_EQ(*small, "abc");
  }
}

TEST(CurlHttpClient, RefusesOtherSchemesAndUnreachablePeers) {
  auto http = MakeCurlHttpClient();
  auto file = http->Get("file:///etc/passwd", 100000);
  ASSERT_FALSE(file);
  EXPECT_TRUE(file.error().Is(FetchErrc::kBadUrl));
  std::string url;
  {
    LoopbackServer server;
    url = server.BaseUrl() + "/gone";
  }  // closed: nothing listens on that port now
  auto gone = http->Get(url, 100);
  ASSERT_FALSE(gone);
  EXPECT_TRUE(gone.error().Is(FetchErrc::kTransport)) << gone.error().String();
}

}  // namespace
}  // namespace ferry::fetch
