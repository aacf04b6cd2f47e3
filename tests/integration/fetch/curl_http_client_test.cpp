// The libcurl HttpClient against a real loopback server.
#include "ferry/fetch/curl_http_client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "loopback_server.hpp"
#include "support/loopback_listener.hpp"

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

TEST(CurlHttpClient, CancelEndsATransferThatNeverAnswers) {
  // A peer that accepts connections (the kernel does, into the backlog) and never replies.
  const auto peer = ferry::testing::ListenOnLoopback();
  const std::string url = "http://127.0.0.1:" + std::to_string(peer.port) + "/x";

  CancelToken cancel;
  CurlOptions options;
  options.cancel = &cancel;
  auto http = MakeCurlHttpClient(options);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  auto body = http->Get(url, 100);
  const auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  ::close(peer.fd);
  ASSERT_FALSE(body);
  EXPECT_TRUE(body.error().Is(FetchErrc::kCancelled)) << body.error().String();
  EXPECT_LT(took, std::chrono::seconds(5));
  // Once cancelled, it stays cancelled: nothing more is sent.
  auto again = http->Get(url, 100);
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().Is(FetchErrc::kCancelled));
}

}  // namespace
}  // namespace ferry::fetch
