// What the fetchers put on the wire: the device token and the proxy. A one-shot listener on port 0
// captures the request and answers 404.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/fetch/http_client.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {
namespace {

using fetch::FetchErrc;

// Accepts one connection, reads the request head, answers 404 and closes.
class CaptureServer {
 public:
  CaptureServer() {
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
  // The request head; call once the client call has returned.
  std::string Request() {
    if (thread_.joinable()) {
      thread_.join();
    }
    return request_;
  }

 private:
  void Serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) {
      return;
    }
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      request_.append(buf, static_cast<std::size_t>(n));
    }
    const std::string answer =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)::write(c, answer.data(), answer.size());
    ::close(c);
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(RequestHeaders, TheBlobFetcherSendsTheDeviceToken) {
  TempDir dir;
  CaptureServer server;
  fetch::BlobFetcherOptions options;
  options.bearer_token = "device-token-123";
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/blobs/x";
  const auto r = fetch::MakeCurlBlobFetcher(options)->Fetch({url, kDigest, 10, dir / "partial"});
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
  CaptureServer server;
  {
    std::FILE* f = std::fopen((dir / "partial").c_str(), "wb");
    std::fputs("abcd", f);
    std::fclose(f);
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/blobs/x";
  const auto r = fetch::MakeCurlBlobFetcher({})->Fetch({url, kDigest, 10, dir / "partial"});
  ASSERT_FALSE(r);
  const std::string request = server.Request();
  EXPECT_NE(request.find("\r\nRange: bytes=4-\r\n"), std::string::npos) << request;
  EXPECT_EQ(request.find("Authorization"), std::string::npos) << request;
}

TEST(RequestHeaders, TheBlobFetcherGoesThroughTheConfiguredProxy) {
  TempDir dir;
  CaptureServer proxy;
  fetch::BlobFetcherOptions options;
  options.proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
  const auto r = fetch::MakeCurlBlobFetcher(options)->Fetch(
      {"http://repo.example.invalid/blobs/x", kDigest, 10, dir / "partial"});
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

}  // namespace
}  // namespace ferry::testing
