#include "ferry/config/config.hpp"

#include <gtest/gtest.h>

#include "ferry/core/fs.hpp"
#include "support/temp_dir.hpp"

namespace ferry::config {
namespace {

using namespace std::chrono_literals;

std::string ErrorOf(std::string_view text) {
  auto r = ParseConfig(text, "ferryd.toml");
  if (r) {
    return "(no error)";
  }
  EXPECT_TRUE(r.error().Is(Errc::kInvalidArgument)) << r.error().message();
  return r.error().message();
}

TEST(Config, OnlyStateDirIsRequiredAndTheRestHasDefaults) {
  auto c = ParseConfig("state_dir = \"/var/lib/ferry\"\n", "ferryd.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->state_dir, "/var/lib/ferry");
  EXPECT_EQ(c->socket, "/run/ferry/ferryd.sock");
  EXPECT_EQ(c->poll_interval, 300s);
  EXPECT_EQ(c->runtime.runc, "/usr/sbin/runc");
  EXPECT_EQ(c->limits.keep_revisions, 2u);
  EXPECT_TRUE(c->server_url.empty());
}

TEST(Config, ReadsEveryKey) {
  auto c = ParseConfig(R"(
state_dir = "/data/ferry"
socket = "/tmp/f.sock"
server_url = "https://updates.example.com"
device_token_file = "/etc/ferry/token"
proxy = "http://proxy.example.com:3128"
ca_file = "/etc/ferry/ca.pem"
trusted_root = "/etc/ferry/root.json"
poll_interval = "5m"
log_level = "debug"

[runtime]
runc = "/usr/bin/crun"
root = "/run/crun"
stop_timeout = 3
log_max_bytes = 4096
rootfs = "hardlink"

[limits]
max_metadata_bytes = 100000
min_free_bytes = 1
min_free_inodes = 2
download_rate_limit = 50000
min_throughput = 10
min_throughput_window = "1m"
keep_revisions = 3
)",
                       "ferryd.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->socket, "/tmp/f.sock");
  EXPECT_EQ(c->server_url, "https://updates.example.com");
  EXPECT_EQ(c->proxy, "http://proxy.example.com:3128");
  EXPECT_EQ(c->ca_file, "/etc/ferry/ca.pem");
  EXPECT_EQ(c->poll_interval, 300s);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->runtime.runc, "/usr/bin/crun");
  EXPECT_EQ(c->runtime.stop_timeout, 3s);
  EXPECT_EQ(c->runtime.log_max_bytes, 4096u);
  EXPECT_EQ(c->runtime.rootfs, "hardlink");
  EXPECT_EQ(c->limits.download_rate_limit, 50000u);
  EXPECT_EQ(c->limits.min_throughput_window, 60s);
  EXPECT_EQ(c->limits.keep_revisions, 3u);
}

TEST(Config, MissingStateDirIsNamed) {
  EXPECT_EQ(ErrorOf("socket = \"/tmp/s\"\n"), "ferryd.toml: missing required key 'state_dir'");
}

TEST(Config, UnknownKeyIsNamedWithItsLine) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n\nstat_dir = \"/y\"\n"),
            "ferryd.toml:3: unknown key 'stat_dir'");
}

TEST(Config, UnknownKeyInATableIsNamedWithTheTable) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[runtime]\nrunc = \"/r\"\nrunk = 1\n"),
            "ferryd.toml:4: unknown key 'runtime.runk'");
}

TEST(Config, UnknownTableIsAnError) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[network]\nproxy = \"\"\n"),
            "ferryd.toml:2: unknown key 'network'");
}

TEST(Config, WrongTypeNamesKeyLineAndTypes) {
  EXPECT_EQ(ErrorOf("state_dir = 5\n"),
            "ferryd.toml:1: key 'state_dir' must be a path string, not an integer");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[limits]\nkeep_revisions = \"two\"\n"),
            "ferryd.toml:3: key 'limits.keep_revisions' must be a non-negative integer, not a "
            "string");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\nruntime = 3\n"),
            "ferryd.toml:2: key 'runtime' must be a table, not an integer");
}

TEST(Config, RelativePathsAreRefused) {
  EXPECT_EQ(ErrorOf("state_dir = \"var/lib/ferry\"\n"),
            "ferryd.toml:1: key 'state_dir' must be an absolute path, not 'var/lib/ferry'");
}

TEST(Config, BadDurationsAreRefused) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\npoll_interval = \"5 minutes\"\n"),
            "ferryd.toml:2: key 'poll_interval': '5 minutes' has an unknown unit (use s, m, h or "
            "d)");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\npoll_interval = 0\n"),
            "ferryd.toml:2: key 'poll_interval' must be at least 1s");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\npoll_interval = -4\n"),
            "ferryd.toml:2: key 'poll_interval' must not be negative");
}

TEST(Config, NegativeAndHugeIntegersAreRefused) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[limits]\nmin_free_bytes = -1\n"),
            "ferryd.toml:3: key 'limits.min_free_bytes' is out of range: -1");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[limits]\nkeep_revisions = 99999999999\n"),
            "ferryd.toml:3: key 'limits.keep_revisions' is out of range: 99999999999");
}

TEST(Config, SyntaxErrorsNameTheLine) {
  const std::string err = ErrorOf("state_dir = \"/x\"\nsocket = \n");
  EXPECT_EQ(err.rfind("ferryd.toml:2: ", 0), 0u) << err;
}

TEST(Config, ProxyMustNameASupportedScheme) {
  const auto c = ParseConfig("state_dir = \"/x\"\nproxy = \"ftp://p:21\"\n", "ferryd.toml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("ferryd.toml:2"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("'proxy'"), std::string::npos) << c.error().message();
  const auto socks = ParseConfig("state_dir = \"/x\"\nproxy = \"socks5h://p:1080\"\n", "f");
  ASSERT_TRUE(socks) << socks.error().message();
  EXPECT_EQ(socks->proxy, "socks5h://p:1080");
}

TEST(Config, CaFileMustBeAbsolute) {
  const auto c = ParseConfig("state_dir = \"/x\"\nca_file = \"ca.pem\"\n", "ferryd.toml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("'ca_file'"), std::string::npos) << c.error().message();
}

TEST(Config, ServerUrlMustBeHttp) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\nserver_url = \"ftp://x\"\n"),
            "ferryd.toml:2: key 'server_url' must start with http:// or https://, not 'ftp://x'");
}

TEST(Config, RepositoryUrlDefaultsToServerUrl) {
  auto c = ParseConfig("state_dir = \"/x\"\nserver_url = \"http://fleet:8080/\"\n", "t.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->server_url, "http://fleet:8080");
  EXPECT_EQ(c->repository_url, "http://fleet:8080");
  c = ParseConfig(
      "state_dir = \"/x\"\nserver_url = \"http://fleet\"\nrepository_url = \"https://cdn/r//\"\n",
      "t.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->repository_url, "https://cdn/r");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\nrepository_url = \"file:///r\"\n"),
            "ferryd.toml:2: key 'repository_url' must start with http:// or https://, not "
            "'file:///r'");
}

TEST(Config, CgroupParentIsAnAbsoluteCgroupPath) {
  auto c = ParseConfig("state_dir = \"/x\"\n[runtime]\ncgroup_parent = \"/ferry/dev-2\"\n", "t");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->runtime.cgroup_parent, "/ferry/dev-2");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[runtime]\ncgroup_parent = \"/a/../b\"\n"),
            "ferryd.toml:3: key 'runtime.cgroup_parent' must be an absolute cgroup path like "
            "/ferry, not '/a/../b'");
}

TEST(Config, ClientCertificateAndKeyGoTogether) {
  auto c = ParseConfig(
      "state_dir = \"/x\"\nclient_cert = \"/etc/ferry/dev.crt\"\nclient_key = "
      "\"/etc/ferry/dev.key\"\n",
      "ferryd.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->client_cert, "/etc/ferry/dev.crt");
  EXPECT_EQ(c->client_key, "/etc/ferry/dev.key");
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\nclient_cert = \"/etc/ferry/dev.crt\"\n"),
            "ferryd.toml: 'client_cert' and 'client_key' go together: set both or neither");
}

TEST(Config, LogLevelIsChecked) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\nlog_level = \"loud\"\n"),
            "ferryd.toml:2: key 'log_level' must be one of trace, debug, info, warn, error");
}

TEST(Config, RootfsModeIsChecked) {
  EXPECT_EQ(ErrorOf("state_dir = \"/x\"\n[runtime]\nrootfs = \"zfs\"\n"),
            "ferryd.toml:3: key 'runtime.rootfs' must be one of auto, overlay, hardlink");
  auto c = ParseConfig("state_dir = \"/x\"\n", "ferryd.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->runtime.rootfs, "auto");
}

TEST(Config, LoadConfigReportsMissingFile) {
  testing::TempDir dir;
  auto r = LoadConfig(dir / "absent.toml");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(Errc::kNotFound));
  EXPECT_NE(r.error().message().find("absent.toml"), std::string::npos);
}

TEST(Config, LoadConfigNamesTheFileInErrors) {
  testing::TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "ferryd.toml", "bogus = 1\n"));
  auto r = LoadConfig(dir / "ferryd.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), (dir / "ferryd.toml").string() + ":1: unknown key 'bogus'");
}

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(*ParseDuration("45"), 45s);
  EXPECT_EQ(*ParseDuration("45s"), 45s);
  EXPECT_EQ(*ParseDuration("2m"), 120s);
  EXPECT_EQ(*ParseDuration("1h"), 3600s);
  EXPECT_EQ(*ParseDuration("1d"), 86400s);
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("m"));
  EXPECT_FALSE(ParseDuration("1.5h"));
}

}  // namespace
}  // namespace ferry::config
