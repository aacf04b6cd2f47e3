// Releases from an OCI image layout made by umoci and from a `docker save` tarball made by hand.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ferry/manifest/health_check.hpp"
#include "publish_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish::testing {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

class ImportTest : public PublishTest {
 protected:
  ferry::testing::RunResult Release(const std::string& image, const std::string& version,
                                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"release", "--repo", repo().string(), "--keys", keys().string(),
                                  "--app",   "svc",    "--version",     version,  "--image",
                                  image};
    args.insert(args.end(), extra.begin(), extra.end());
    return Publish(args);
  }

  void Umoci(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"umoci"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = ferry::testing::Run(argv);
    ASSERT_EQ(r.exit_code, 0) << "umoci " << args[0] << ": " << r.err;
  }

  // An OCI layout at `layout` holding the empty image `image`, unpacked into tmp_/bundle with
  // MakeRootfs(…, 1) as its root filesystem, ready to be repacked.
  void StartOciImage(const stdfs::path& layout, const std::string& image) {
    Umoci({"init", "--layout", layout.string()});
    Umoci({"new", "--image", image});
    Umoci({"unpack", "--rootless", "--image", image, (tmp_ / "bundle").string()});
    MakeRootfs(tmp_ / "bundle" / "rootfs", 1);
  }
};

TEST_F(ImportTest, OciLayoutFromUmoci) {
  const auto layout = tmp_ / "oci";
  const std::string image = layout.string() + ":v1";
  StartOciImage(layout, image);
  // --refresh-bundle: the next repack builds on this layer, not on the unpacked (empty) image.
  Umoci({"repack", "--refresh-bundle", "--image", image, (tmp_ / "bundle").string()});
  // A second layer on top, so the import keeps layer order.
  WriteFile(tmp_ / "bundle" / "rootfs" / "etc" / "extra.conf", "second layer\n");
  Umoci({"repack", "--image", image, (tmp_ / "bundle").string()});
  Umoci({"config", "--image", image, "--config.entrypoint", "/bin/app", "--config.cmd", "--serve",
         "--config.env", "MODE=prod", "--config.exposedports", "8080/tcp", "--config.volume",
         "/var/lib/svc", "--config.user", "1000:1000", "--config.workingdir", "/srv",
         "--config.label", "team=ops"});

  auto r = Release(image, "3.1.4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = LoadManifest(repo(), "svc", "3.1.4");
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.config.entrypoint, std::vector<std::string>{"/bin/app"});
  EXPECT_EQ(m.config.cmd, std::vector<std::string>{"--serve"});
  EXPECT_NE(std::find(m.config.env.begin(), m.config.env.end(), "MODE=prod"), m.config.env.end());
  EXPECT_EQ(m.config.ports, std::vector<std::uint16_t>{8080});
  ASSERT_EQ(m.config.volumes.size(), 1u);
  EXPECT_EQ(m.config.volumes[0].path, "/var/lib/svc");
  EXPECT_EQ(m.config.volumes[0].name, "var-lib-svc");
  EXPECT_EQ(m.config.user, "1000:1000");
  EXPECT_EQ(m.config.working_dir, "/srv");
  EXPECT_EQ(m.config.labels.at("team"), "ops");
  EXPECT_EQ(m.architecture, "amd64");

  // diff_ids are the image's own (the import checked them against the image config).
  UnpackBlob(BlobFile(repo(), m.layers[1].blob.digest), tmp_ / "top");
  EXPECT_EQ(ReadFile(tmp_ / "top" / "etc" / "extra.conf"), "second layer\n");
  EXPECT_EQ(Publish({"verify", "--repo", repo().string()}).exit_code, 0);

  // Without a tag, a layout with one manifest is fine; an unknown tag is an error.
  auto bad_tag = Release(layout.string() + ":nope", "3.1.5");
  EXPECT_EQ(bad_tag.exit_code, 1);
  EXPECT_NE(bad_tag.err.find("no manifest tagged 'nope'"), std::string::npos) << bad_tag.err;
}

TEST_F(ImportTest, OciLayoutWithATamperedBlobIsRefused) {
  const auto layout = tmp_ / "oci";
  const std::string image = layout.string() + ":v1";
  StartOciImage(layout, image);
  Umoci({"repack", "--image", image, (tmp_ / "bundle").string()});
  Umoci({"config", "--image", image, "--config.cmd", "/bin/app"});
  // Append a byte to every layer-sized blob: its digest no longer matches.
  for (const auto& e : stdfs::directory_iterator(layout / "blobs" / "sha256")) {
    if (stdfs::file_size(e.path()) > 10000) {
      std::string bytes = ReadFile(e.path());
      WriteFile(e.path(), bytes + "x");
    }
  }
  auto r = Release(image, "1.0.0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("has sha256"), std::string::npos) << r.err;
}

TEST_F(ImportTest, DockerSaveTarball) {
  // A layer tar made by tar(1), as docker would store it.
  MakeRootfs(tmp_ / "rootfs", 1);
  stdfs::create_directories(tmp_ / "save" / "abc123");
  auto tar = ferry::testing::Run({"tar", "-C", (tmp_ / "rootfs").string(), "-cf",
                                  (tmp_ / "save" / "abc123" / "layer.tar").string(), "."});
  ASSERT_EQ(tar.exit_code, 0) << tar.err;
  const std::string diff_id =
      "sha256:" + Sha256Hex(ReadFile(tmp_ / "save" / "abc123" / "layer.tar"));
  const json config{{"architecture", "arm64"},
                    {"os", "linux"},
                    {"config",
                     {{"Entrypoint", {"/bin/app"}},
                      {"Cmd", nullptr},
                      {"Env", {"PATH=/usr/bin", "LEVEL=1"}},
                      {"WorkingDir", "/data"},
                      {"User", "65534"},
                      {"ExposedPorts", {{"80/tcp", json::object()}, {"53/udp", json::object()}}},
                      {"Volumes", {{"/data", json::object()}}},
                      {"Healthcheck",
                       {{"Test", {"CMD-SHELL", "wget -q -O- http://127.0.0.1/health"}},
                        {"Interval", 10'000'000'000LL},
                        {"Timeout", 2'000'000'000LL},
                        {"StartPeriod", 5'000'000'000LL},
                        {"Retries", 4}}}}},
                    {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}};
  WriteFile(tmp_ / "save" / "cfg.json", config.dump());
  const json top = json::array(
      {{{"Config", "cfg.json"}, {"RepoTags", {"svc:latest"}}, {"Layers", {"abc123/layer.tar"}}}});
  WriteFile(tmp_ / "save" / "manifest.json", top.dump());
  const auto tarball = tmp_ / "svc.tar";
  auto pack = ferry::testing::Run({"tar", "-C", (tmp_ / "save").string(), "-cf", tarball.string(),
                                   "manifest.json", "cfg.json", "abc123/layer.tar"});
  ASSERT_EQ(pack.exit_code, 0) << pack.err;

  // The app config adds resources and capabilities, replaces LEVEL, and sets min_from_version.
  const auto app = WriteAppConfig(tmp_.path(), R"({
    "env": ["LEVEL=2"],
    "resources": {"memory_bytes": 67108864, "pids": 64},
    "capabilities": ["NET_BIND_SERVICE"],
    "min_from_version": "1.2.0"
  })");
  auto r = Release(tarball.string(), "2.0.0", {"--app-config", app.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = LoadManifest(repo(), "svc", "2.0.0");
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].diff_id, diff_id) << "the layer tar is kept byte for byte";
  EXPECT_EQ(m.architecture, "arm64");
  EXPECT_EQ(m.config.user, "65534:0");
  EXPECT_EQ(m.config.working_dir, "/data");
  EXPECT_EQ(m.config.env, (std::vector<std::string>{"PATH=/usr/bin", "LEVEL=2"}));
  EXPECT_EQ(m.config.ports, (std::vector<std::uint16_t>{53, 80}));
  ASSERT_EQ(m.config.volumes.size(), 1u);
  EXPECT_EQ(m.config.volumes[0].name, "data");
  EXPECT_EQ(m.config.resources.memory_bytes, 67108864u);
  EXPECT_EQ(m.config.resources.pids, 64u);
  EXPECT_EQ(m.config.capabilities, std::vector<std::string>{"NET_BIND_SERVICE"});
  ASSERT_TRUE(m.min_from_version.has_value());
  EXPECT_EQ(m.min_from_version->String(), "1.2.0");
  // ParseManifest checked the signed health check as ferryd does.
  ASSERT_TRUE(m.config.health.has_value());
  EXPECT_EQ(m.config.health->kind, manifest::CheckKind::kExec);
  EXPECT_EQ(m.config.health->command,
            (std::vector<std::string>{"/bin/sh", "-c", "wget -q -O- http://127.0.0.1/health"}));
  EXPECT_EQ(m.config.health->interval.count(), 10.0);
  EXPECT_EQ(m.config.health->timeout.count(), 2.0);
  EXPECT_EQ(m.config.health->start_period.count(), 5.0);
  EXPECT_EQ(m.config.health->failures, 4);
  EXPECT_EQ(Publish({"verify", "--repo", repo().string()}).exit_code, 0);

  // The app config can drop the image's health check.
  const auto no_health = WriteAppConfig(tmp_.path(), R"({"health": null})");
  ASSERT_EQ(Release(tarball.string(), "2.0.1", {"--app-config", no_health.string()}).exit_code, 0);
  EXPECT_FALSE(LoadManifest(repo(), "svc", "2.0.1").config.health.has_value());
}

TEST_F(ImportTest, DockerSaveWithAWrongDiffIdIsRefused) {
  MakeRootfs(tmp_ / "rootfs", 1);
  stdfs::create_directories(tmp_ / "save" / "l1");
  ASSERT_EQ(ferry::testing::Run({"tar", "-C", (tmp_ / "rootfs").string(), "-cf",
                                 (tmp_ / "save" / "l1" / "layer.tar").string(), "."})
                .exit_code,
            0);
  const json config{
      {"config", {{"Cmd", {"/bin/app"}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + std::string(64, '0')}}}}};
  WriteFile(tmp_ / "save" / "c.json", config.dump());
  WriteFile(tmp_ / "save" / "manifest.json",
            json::array({{{"Config", "c.json"}, {"Layers", {"l1/layer.tar"}}}}).dump());
  ASSERT_EQ(
      ferry::testing::Run({"tar", "-C", (tmp_ / "save").string(), "-cf",
                           (tmp_ / "img.tar").string(), "manifest.json", "c.json", "l1/layer.tar"})
          .exit_code,
      0);
  auto r = Release((tmp_ / "img.tar").string(), "1.0.0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("image config says"), std::string::npos) << r.err;

  WriteFile(tmp_ / "junk.tar", "not a tarball at all");
  auto junk = Release((tmp_ / "junk.tar").string(), "1.0.0");
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_NE(junk.err.find("junk.tar"), std::string::npos) << junk.err;
}

}  // namespace
}  // namespace ferry::publish::testing
