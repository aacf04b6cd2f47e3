// HTTPS peers are always verified: a self-signed certificate is refused unless its CA file is
// configured. The peer is `openssl s_server`, on a port found by binding port 0 first.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/fetch/http_client.hpp"
#include "fetch_fixture.hpp"
#include "support/process.hpp"

namespace ferry::testing {
namespace {

using fetch::FetchErrc;

// A port that was free a moment ago. s_server cannot report the port it bound, so this small race
// is accepted here; every other test binds port 0 itself.
std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool Accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class TlsTest : public FetchTest {
 protected:
  void SetUp() override {
    FetchTest::SetUp();
    cert_ = dir_ / "cert.pem";
    const auto key = dir_ / "key.pem";
    const RunResult made =
        ::ferry::testing::Run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-keyout", key.string(), "-out", cert_.string(), "-days", "1",
                               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    for (int tries = 0; tries < 5 && port_ == 0; ++tries) {
      const std::uint16_t port = FreePort();
      tls_server_ = std::make_unique<Child>(
          std::vector<std::string>{"openssl", "s_server", "-accept",
                                   "127.0.0.1:" + std::to_string(port), "-cert", cert_.string(),
                                   "-key", key.string(), "-www", "-quiet"},
          std::map<std::string, std::string>{}, dir_ / "s_server.log");
      if (WaitFor([&] { return Accepts(port) || !tls_server_->running(); }) &&
          tls_server_->running()) {
        port_ = port;
      }
    }
    ASSERT_NE(port_, 0) << "openssl s_server did not start";
  }

  // The blob request, aimed at the TLS peer (no ferry-server runs in these tests).
  fetch::BlobRequest TlsRequest() const {
    return fetch::BlobRequest{TlsUrl(), digest_, kBlobSize, partial_};
  }

  std::string TlsUrl() const { return "https://127.0.0.1:" + std::to_string(port_) + "/blob"; }

  std::filesystem::path cert_;
  std::unique_ptr<Child> tls_server_;
  std::uint16_t port_ = 0;
};

TEST_F(TlsTest, ABlobFromAPeerWithAnUntrustedCertificateIsRefusedAtOnce) {
  const auto request = TlsRequest();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(request);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kTransport)) << r.error().String();
  EXPECT_NE(r.error().message().find("TLS peer refused"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(TlsUrl()), std::string::npos);
  EXPECT_TRUE(Sleeps().empty()) << "a bad certificate is not retried";
  EXPECT_EQ(std::filesystem::file_size(partial_), 0u);
}

TEST_F(TlsTest, TheConfiguredCaFileMakesThePeerTrusted) {
  const auto request = TlsRequest();
  auto options = Options();
  options.ca_file = cert_.string();
  options.backoff.attempts = 1;
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(request);
  // s_server answers with its status page, shorter than the blob: TLS got through, and the short
  // body is what fails.
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("body ended at byte"), std::string::npos)
      << r.error().String();
}

TEST_F(TlsTest, TheMetadataClientVerifiesPeersTooAndTakesACaFile) {
  const auto refused = fetch::MakeCurlHttpClient()->Get(TlsUrl(), 1 << 20);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().Is(FetchErrc::kTransport)) << refused.error().String();

  fetch::CurlOptions options;
  options.ca_file = cert_.string();
  const auto body = fetch::MakeCurlHttpClient(options)->Get(TlsUrl(), 1 << 20);
  ASSERT_TRUE(body) << body.error().String();
  EXPECT_NE(body->find("s_server"), std::string::npos) << *body;
}

}  // namespace
}  // namespace ferry::testing
