// What the fetchers put on the wire (the device token, Range, the proxy) and how they read a
// scripted answer (a Retry-After date). A loopback server captures each request and gives canned
// answers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/fetch/http_headers.hpp"
#include "fetch_fixture.hpp"
#include "support/loopback_http_server.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {
namespace {

using fetch::FetchErrc;

const std::string kNotFound =
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

// Answers the n-th request with answers[n]; holds any request after the last answer.
LoopbackHttpServer::Handler InTurn(std::vector<std::string> answers) {
  return [answers = std::move(answers), next = std::size_t{0}](const LoopbackHttpRequest&) mutable {
    return next < answers.size() ? LoopbackHttpReply{answers[next++]} : LoopbackHttpReply{{}, true};
  };
}

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(RequestHeaders, TheBlobFetcherSendsTheDeviceToken) {
  TempDir dir;
  const SystemClock clock;
  LoopbackHttpServer server(InTurn({kNotFound}));
  fetch::BlobFetcherOptions options;
  options.bearer_token = "device-token-123";
  const std::string url = server.url() + "/blobs/x";
  const auto r =
      fetch::MakeCurlBlobFetcher(clock, options)->Fetch({url, kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  const std::string request = server.LastHead();
  EXPECT_NE(request.find("GET /blobs/x HTTP/1.1\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nAuthorization: Bearer device-token-123\r\n"), std::string::npos)
      << request;
  EXPECT_EQ(request.find("Range:"), std::string::npos) << "nothing on disk: no Range";
}

TEST(RequestHeaders, TheBlobFetcherResumesWithRangeAndNoTokenWhenNoneIsSet) {
  TempDir dir;
  const SystemClock clock;
  LoopbackHttpServer server(InTurn({kNotFound}));
  {
    std::FILE* f = std::fopen((dir / "partial").c_str(), "wb");
    std::fputs("abcd", f);
    std::fclose(f);
  }
  const std::string url = server.url() + "/blobs/x";
  const auto r = fetch::MakeCurlBlobFetcher(clock, {})->Fetch({url, kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  const std::string request = server.LastHead();
  EXPECT_NE(request.find("\r\nRange: bytes=4-\r\n"), std::string::npos) << request;
  EXPECT_EQ(request.find("Authorization"), std::string::npos) << request;
}

TEST(RequestHeaders, TheBlobFetcherGoesThroughTheConfiguredProxy) {
  TempDir dir;
  const SystemClock clock;
  LoopbackHttpServer proxy(InTurn({kNotFound}));
  fetch::BlobFetcherOptions options;
  options.proxy = proxy.url();
  const auto r = fetch::MakeCurlBlobFetcher(clock, options)
                     ->Fetch({"http://repo.example.invalid/blobs/x", kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  const std::string request = proxy.LastHead();
  EXPECT_NE(request.find("GET http://repo.example.invalid/blobs/x HTTP/1.1\r\n"), std::string::npos)
      << request;
}

TEST(RequestHeaders, TheMetadataClientSendsTheTokenAndUsesTheProxy) {
  LoopbackHttpServer proxy(InTurn({kNotFound}));
  fetch::CurlOptions options;
  options.bearer_token = "device-token-456";
  options.proxy = proxy.url();
  const auto r =
      fetch::MakeCurlHttpClient(options)->Get("http://repo.example.invalid/1.root.json", 1024);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  const std::string request = proxy.LastHead();
  EXPECT_NE(request.find("GET http://repo.example.invalid/1.root.json HTTP/1.1\r\n"),
            std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nAuthorization: Bearer device-token-456\r\n"), std::string::npos)
      << request;
}

TEST(RequestHeaders, ARetryAfterDateIsReadAgainstTheConfiguredClock) {
  TempDir dir;
  ManualClock clock;  // wall time 2023-11-14 22:13:20 UTC
  const std::string body = "hello, device";
  // 42 s after the clock's wall time, in IMF-fixdate form.
  const std::string date = "Tue, 14 Nov 2023 22:14:02 GMT";
  ASSERT_EQ(fetch::ParseRetryAfter(date, clock.WallNow()), std::chrono::seconds(42));
  LoopbackHttpServer server(
      InTurn({"HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + date +
                  "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
              "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n\r\n" + body}));
  std::vector<std::chrono::milliseconds> sleeps;
  fetch::BlobFetcherOptions options;
  options.sleep = [&](std::chrono::milliseconds d, const fetch::CancelToken*) {
    sleeps.push_back(d);
  };
  const std::string url = server.url() + "/blobs/x";
  const auto r = fetch::MakeCurlBlobFetcher(clock, options)
                     ->Fetch({url, Sha256Digest(body), body.size(), dir / "partial"});
  ASSERT_TRUE(r) << r.error().String();
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_GE(sleeps[0], std::chrono::seconds(42));
  EXPECT_EQ(ReadAll(dir / "partial"), body);
  EXPECT_EQ(server.Requests().size(), 2u);
}

}  // namespace
}  // namespace ferry::testing
