// A repository made by ferry-publish, served by ferry-server over loopback HTTP, read by
// ferry-tuf-client (the device's TUF verifier behind the conformance-suite command line).
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "ferry/trust/metadata.hpp"
#include "publish_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish::testing {
namespace {

namespace stdfs = std::filesystem;
using ferry::testing::BuiltProgram;
using ferry::testing::Child;

class TufClientTest : public PublishTest {
 protected:
  void SetUp() override {
    PublishTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    const auto log = tmp_ / "server.log";
    server_ = std::make_unique<Child>(
        std::vector<std::string>{BuiltProgram("ferry-server").string(), "serve", "--repo",
                                 repo().string(), "--listen", "127.0.0.1:0"},
        std::map<std::string, std::string>{}, log);
    const std::regex line("listening on 127\\.0\\.0\\.1:([0-9]+)\n");
    ASSERT_TRUE(ferry::testing::WaitFor([&] {
      std::smatch m;
      const std::string text = ReadFile(log);
      if (std::regex_search(text, m, line)) {
        url_ = "http://127.0.0.1:" + m[1].str();
        return true;
      }
      return !server_->running();
    }));
    ASSERT_FALSE(url_.empty()) << ReadFile(log);
  }

  ferry::testing::RunResult Client(const std::vector<std::string>& args) {
    std::vector<std::string> argv{BuiltProgram("ferry-tuf-client").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return ferry::testing::Run(argv);
  }

  ferry::testing::RunResult Download(const std::string& target) {
    return Client({"--metadata-url", url_ + "/metadata", "--metadata-dir",
                   (tmp_ / "device").string(), "--target-name", target, "--target-dir",
                   (tmp_ / "downloads").string(), "--target-base-url", url_ + "/targets",
                   "download"});
  }

  std::unique_ptr<Child> server_;
  std::string url_;
};

TEST_F(TufClientTest, DownloadsAManifestTargetAcrossARootRotation) {
  Release("1.0.0", 1);
  auto init = Client({"--metadata-dir", (tmp_ / "device").string(), "init",
                      (repo() / "metadata" / "1.root.json").string()});
  ASSERT_EQ(init.exit_code, 0) << init.err;

  auto r = Download("web/1.0.0.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string got = ReadFile(tmp_ / "downloads" / trust::QuoteComponent("web/1.0.0.json"));
  EXPECT_EQ(got, ReadFile(ManifestFile(repo(), "web", "1.0.0")));
  auto m = manifest::ParseManifest(got);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->version.String(), "1.0.0");

  // The operator rotates the root and the targets keys and publishes again: the device walks
  // 1.root.json → 3.root.json and trusts the new release.
  ASSERT_EQ(
      Publish({"rotate", "--repo", repo().string(), "--keys", keys().string(), "--role", "root"})
          .exit_code,
      0);
  ASSERT_EQ(
      Publish({"rotate", "--repo", repo().string(), "--keys", keys().string(), "--role", "targets"})
          .exit_code,
      0);
  Release("1.1.0", 2);
  r = Download("web/1.1.0.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(tmp_ / "downloads" / trust::QuoteComponent("web/1.1.0.json")),
            ReadFile(ManifestFile(repo(), "web", "1.1.0")));
  auto trusted = trust::ParseMetadata(ReadFile(tmp_ / "device" / "root.json"), "root");
  ASSERT_TRUE(trusted.has_value());
  EXPECT_EQ(trusted->version, 3u);

  auto missing = Download("web/9.0.0.json");
  EXPECT_EQ(missing.exit_code, 1);
}

}  // namespace
}  // namespace ferry::publish::testing
