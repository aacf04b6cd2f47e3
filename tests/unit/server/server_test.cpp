#include "ferry/httpd/server.hpp"

#include <gtest/gtest.h>

#include "ferry/httpd/error.hpp"

namespace ferry::httpd {
namespace {

namespace net = boost::asio;

TEST(ParseListenAddress, TakesIpv4AndBracketedIpv6) {
  auto v4 = ParseListenAddress("127.0.0.1:8080").value();
  EXPECT_EQ(v4.address().to_string(), "127.0.0.1");
  EXPECT_EQ(v4.port(), 8080);
  auto v6 = ParseListenAddress("[::1]:0").value();
  EXPECT_TRUE(v6.address().is_v6());
  EXPECT_EQ(v6.port(), 0);
  EXPECT_EQ(FormatEndpoint(v4), "127.0.0.1:8080");
  EXPECT_EQ(FormatEndpoint(v6), "[::1]:0");
}

TEST(ParseListenAddress, RefusesMalformedAddresses) {
  for (const char* bad : {"", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:80x", "::1:80", "localhost:80", "[::1:80", "1.2.3:80"}) {
    const auto r = ParseListenAddress(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_TRUE(r.error().Is(HttpdErrc::kBadListenAddress)) << bad;
  }
}

TEST(IsLoopback, KnowsLoopbackInEveryForm) {
  EXPECT_TRUE(IsLoopback(net::ip::make_address("127.0.0.1")));
  EXPECT_TRUE(IsLoopback(net::ip::make_address("127.9.8.7")));
  EXPECT_TRUE(IsLoopback(net::ip::make_address("::1")));
  EXPECT_TRUE(IsLoopback(net::ip::make_address("::ffff:127.0.0.1")));
  EXPECT_FALSE(IsLoopback(net::ip::make_address("10.0.0.1")));
  EXPECT_FALSE(IsLoopback(net::ip::make_address("::ffff:10.0.0.1")));
  EXPECT_FALSE(IsLoopback(net::ip::make_address("::")));
  EXPECT_FALSE(IsLoopback(net::ip::make_address("0.0.0.0")));
  EXPECT_FALSE(IsLoopback(net::ip::make_address("fe80::1")));
}

}  // namespace
}  // namespace ferry::httpd
