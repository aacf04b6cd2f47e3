// What the fetchers put on the wire (the device token, Range, the proxy) and how they read a
// scripted answer (a Retry-After date). A small listener on port 0 captures each request and
// gives canned answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/fetch/http_headers.hpp"
#include "fetch_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {
namespace {

using fetch::FetchErrc;

const std::string kNotFound =
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

// Answers one connection per entry of `answers`, in order: reads the request head, writes the
// answer, closes.
class CaptureServer {
 public:
  explicit CaptureServer(std::vector<std::string> answers = {kNotFound})
      : answers_(std::move(answers)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CaptureServer() {
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept() when no client came
    if (thread_.joinable()) {
      thread_.join();
    }
    ::close(fd_);
  }

  std::uint16_t port() const { return port_; }
  // The request heads; call once the client call has returned.
  std::vector<std::string> Requests() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) {
      thread_.join();
    }
    return requests_;
  }
  std::string Request() {
    const auto all = Requests();
    return all.empty() ? std::string() : all.front();
  }

 private:
  void Serve() {
    for (const std::string& answer : answers_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        head.append(buf, static_cast<std::size_t>(n));
      }
      requests_.push_back(std::move(head));
      std::string_view rest = answer;
      while (!rest.empty()) {
        const ssize_t n = ::write(c, rest.data(), rest.size());
        if (n <= 0) {
          break;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
      }
      ::close(c);
    }
  }

  std::vector<std::string> answers_;
  std::vector<std::string> requests_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(RequestHeaders, TheBlobFetcherSendsTheDeviceToken) {
  TempDir dir;
  const SystemClock clock;
  CaptureServer server;
  fetch::BlobFetcherOptions options;
  options.bearer_token = "device-token-123";
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/blobs/x";
  const auto r =
      fetch::MakeCurlBlobFetcher(clock, options)->Fetch({url, kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  const std::string request = server.Request();
  EXPECT_NE(request.find("GET /blobs/x HTTP/1.1\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nAuthorization: Bearer device-token-123\r\n"), std::string::npos)
      << request;
  EXPECT_EQ(request.find("Range:"), std::string::npos) << "nothing on disk: no Range";
}

TEST(RequestHeaders, TheBlobFetcherResumesWithRangeAndNoTokenWhenNoneIsSet) {
  TempDir dir;
  const SystemClock clock;
  CaptureServer server;
  {
    std::FILE* f = std::fopen((dir / "partial").c_str(), "wb");
    std::fputs("abcd", f);
    std::fclose(f);
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/blobs/x";
  const auto r = fetch::MakeCurlBlobFetcher(clock, {})->Fetch({url, kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  const std::string request = server.Request();
  EXPECT_NE(request.find("\r\nRange: bytes=4-\r\n"), std::string::npos) << request;
  EXPECT_EQ(request.find("Authorization"), std::string::npos) << request;
}

TEST(RequestHeaders, TheBlobFetcherGoesThroughTheConfiguredProxy) {
  TempDir dir;
  const SystemClock clock;
  CaptureServer proxy;
  fetch::BlobFetcherOptions options;
  options.proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
  const auto r = fetch::MakeCurlBlobFetcher(clock, options)
                     ->Fetch({"http://repo.example.invalid/blobs/x", kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  const std::string request = proxy.Request();
  EXPECT_NE(request.find("GET http://repo.example.invalid/blobs/x HTTP/1.1\r\n"), std::string::npos)
      << request;
}

TEST(RequestHeaders, TheMetadataClientSendsTheTokenAndUsesTheProxy) {
  CaptureServer proxy;
  fetch::CurlOptions options;
  options.bearer_token = "device-token-456";
  options.proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
  const auto r =
      fetch::MakeCurlHttpClient(options)->Get("http://repo.example.invalid/1.root.json", 1024);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  const std::string request = proxy.Request();
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
  CaptureServer server({"HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + date +
                            "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\nConnection: close\r\n\r\n" + body});
  std::vector<std::chrono::milliseconds> sleeps;
  fetch::BlobFetcherOptions options;
  options.sleep = [&](std::chrono::milliseconds d, const fetch::CancelToken*) {
    sleeps.push_back(d);
  };
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/blobs/x";
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
