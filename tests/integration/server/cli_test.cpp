// ferry-server's command line: what an operator or a script sees when starting it.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <regex>

#include "raw_http.hpp"
#include "server_process.hpp"

namespace ferry::testing {
namespace {

std::vector<std::string> Serve(const TempDir& dir, std::string listen) {
  return {BuiltProgram("ferry-server").string(),
          "serve",
          "--repo",
          dir.path().string(),
          "--listen",
          std::move(listen)};
}

TEST(FerryServerCli, WithoutASubcommandPrintsUsageAndFails) {
  const auto r = ferry::testing::Run({BuiltProgram("ferry-server").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("serve"), std::string::npos) << r.out << r.err;
}

TEST(FerryServerCli, BadListenAddressExitsWith2AndSaysWhy) {
  TempDir dir;
  for (const char* bad : {"localhost:80", "127.0.0.1", "127.0.0.1:99999", "::1:80"}) {
    const auto r = ferry::testing::Run(Serve(dir, bad));
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("listen address"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(FerryServerCli, AWeakOrEmptyOperatorTokenStopsTheStartAndNamesAGenerator) {
  TempDir dir;
  const auto serve = [&](const std::string& token) {
    WriteFile(dir / "operator.token", token);
    auto args = Serve(dir, "127.0.0.1:0");
    args.insert(args.end(), {"--fleet-db", (dir / "fleet.db").string(), "--operator-token-file",
                             (dir / "operator.token").string()});
    return ferry::testing::Run(args);
  };
  const auto weak = serve("ab\n");
  EXPECT_EQ(weak.exit_code, 2);
  EXPECT_NE(weak.err.find("too weak"), std::string::npos) << weak.err;
  EXPECT_NE(weak.err.find("openssl rand -hex 32"), std::string::npos) << weak.err;
  EXPECT_TRUE(weak.out.empty()) << weak.out;
  const auto empty = serve("\n \n");
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("operator token file"), std::string::npos) << empty.err;
  EXPECT_EQ(empty.err.find("admin token"), std::string::npos) << empty.err;
}

TEST(FerryServerCli, TheFleetDatabaseIsOwnerOnly) {
  TempDir dir;
  WriteFile(dir / "operator.token", "0123456789abcdef0123456789abcdef\n");
  ServerProcess server(dir.path(),
                       {"--fleet-db", (dir / "fleet.db").string(), "--operator-token-file",
                        (dir / "operator.token").string()},
                       dir / "server.log");
  ASSERT_NE(server.port(), 0) << server.Log();
  for (const char* name : {"fleet.db", "fleet.db-wal"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

TEST(FerryServerCli, MissingRepositoryFails) {
  TempDir dir;
  const auto r = ferry::testing::Run({BuiltProgram("ferry-server").string(), "serve", "--repo",
                                      (dir / "missing").string(), "--listen", "127.0.0.1:0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
}

TEST(FerryServerCli, PortInUseExitsWith1) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  TempDir dir;
  const auto r =
      ferry::testing::Run(Serve(dir, "127.0.0.1:" + std::to_string(ntohs(addr.sin_port))));
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("binding"), std::string::npos) << r.err;
}

TEST(FerryServerCli, ListensOnIpv6Loopback) {
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool has_v6 =
      probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (probe >= 0) {
    ::close(probe);
  }
  if (!has_v6) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  TempDir dir;
  WriteFile(dir / "repo" / "x.json", "{}");
  Child child(Serve(dir, "[::1]:0"), {}, dir / "log");
  std::smatch m;
  const std::regex line("listening on \\[::1\\]:([0-9]+)\n");
  std::string log;
  ASSERT_TRUE(WaitFor([&] {
    std::ifstream in(dir / "log");
    log.assign(std::istreambuf_iterator<char>(in), {});
    return std::regex_search(log, m, line);
  })) << log;
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  const std::string url = "http://[::1]:" + m[1].str() + "/repo/x.json";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, 200);
}

}  // namespace
}  // namespace ferry::testing
