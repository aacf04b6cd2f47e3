// ferry-publish init + release + verify, driven as an operator would.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "ferry/delta/delta.hpp"
#include "ferry/layers/extract.hpp"
#include "publish_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish::testing {
namespace {

namespace stdfs = std::filesystem;
using ferry::testing::TempDir;

class ReleaseTest : public PublishTest {
 protected:
  void SetUp() override {
    PublishTest::SetUp();
    app_config_ = WriteAppConfig(tmp_.path());
  }

  ferry::testing::RunResult Release(const std::string& version, int variant,
                                    std::vector<std::string> extra = {}) {
    const auto rootfs = tmp_ / ("rootfs-" + std::to_string(variant));
    if (!stdfs::exists(rootfs)) {
      MakeRootfs(rootfs, variant);
    }
    std::vector<std::string> args{
        "release",       "--repo",       repo().string(),     "--keys", keys().string(),
        "--app",         "web",          "--version",         version,  "--image",
        rootfs.string(), "--app-config", app_config_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Publish(args);
  }

  stdfs::path app_config_;
};

TEST_F(ReleaseTest, InitWritesTheDocumentedLayout) {
  for (const char* f : {"metadata/1.root.json", "metadata/root.json", "metadata/timestamp.json",
                        "metadata/1.snapshot.json", "metadata/1.targets.json"}) {
    EXPECT_TRUE(stdfs::is_regular_file(repo() / f)) << f;
  }
  EXPECT_TRUE(stdfs::is_directory(repo() / "targets"));
  EXPECT_TRUE(stdfs::is_directory(repo() / "blobs" / "sha256"));
  for (const char* role : {"root", "targets", "snapshot", "timestamp"}) {
    const auto key = keys() / (std::string(role) + "-1.pem");
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0) << key;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
  auto again = Publish({"init", "--repo", repo().string(), "--keys", keys().string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already holds a repository"), std::string::npos) << again.err;
}

TEST_F(ReleaseTest, ReleaseFromRootfsVerifies) {
  auto r = Release("1.0.0", 1);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("web/1.0.0.json"), std::string::npos) << r.out;

  const auto m = LoadManifest(repo(), "web", "1.0.0");
  EXPECT_EQ(m.app, "web");
  EXPECT_EQ(m.version.String(), "1.0.0");
  EXPECT_FALSE(m.downgrade);
  EXPECT_EQ(m.config.cmd, std::vector<std::string>{"/bin/app"});
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_TRUE(m.layers[0].deltas.empty());
  const auto blob = BlobFile(repo(), m.layers[0].blob.digest);
  ASSERT_TRUE(stdfs::exists(blob));
  EXPECT_EQ(stdfs::file_size(blob), m.layers[0].blob.size);
  EXPECT_EQ("sha256:" + Sha256Hex(ReadFile(blob)), m.layers[0].blob.digest);
  // The stored name is consistent-snapshot style: <sha256 of the file>.<version>.json.
  const auto file = ManifestFile(repo(), "web", "1.0.0");
  EXPECT_EQ(file.filename().string(), Sha256Hex(ReadFile(file)) + ".1.0.0.json");
  EXPECT_TRUE(stdfs::exists(repo() / "metadata" / "2.targets.json"));
  EXPECT_TRUE(stdfs::exists(repo() / "metadata" / "2.snapshot.json"));

  // The unpacked blob is the tree we released.
  UnpackBlob(blob, tmp_ / "unpacked");
  EXPECT_EQ(ReadFile(tmp_ / "unpacked" / "bin" / "app"), ReadFile(tmp_ / "rootfs-1/bin/app"));
  EXPECT_EQ(stdfs::read_symlink(tmp_ / "unpacked" / "bin" / "run"), "app");
  EXPECT_TRUE(stdfs::is_directory(tmp_ / "unpacked" / "var" / "empty"));
  EXPECT_TRUE(stdfs::equivalent(tmp_ / "unpacked" / "bin" / "app",
                                tmp_ / "unpacked" / "bin" / "app-hardlink"));
  EXPECT_EQ(stdfs::status(tmp_ / "unpacked" / "bin" / "app").permissions(),
            stdfs::status(tmp_ / "rootfs-1" / "bin" / "app").permissions());

  auto v = Publish({"verify", "--repo", repo().string()});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("1 target(s)"), std::string::npos) << v.out;
}

TEST_F(ReleaseTest, TheManifestDeclaresWhatEachLayerUnpacksTo) {
  auto r = Release("1.0.0", 1);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = LoadManifest(repo(), "web", "1.0.0");
  ASSERT_EQ(m.layers.size(), 1u);
  const manifest::Layer& layer = m.layers[0];
  // The regular files: bin/app and etc/app.conf (bin/app-hardlink is a tar hardlink).
  const std::uint64_t files = stdfs::file_size(tmp_ / "rootfs-1" / "bin" / "app") +
                              stdfs::file_size(tmp_ / "rootfs-1" / "etc" / "app.conf");
  EXPECT_EQ(layer.unpacked_size, files);
  ASSERT_TRUE(layer.entries.has_value());

  // A device stages the layer within its declared figures, and not within one entry fewer.
  const auto blob = BlobFile(repo(), layer.blob.digest);
  auto stage = [&](std::uint64_t entries, const stdfs::path& dir) {
    layers::ExtractPolicy policy;
    policy.ownership = layers::Ownership::kCaller;
    policy.whiteouts = layers::WhiteoutMode::kList;
    policy.max_tar_bytes = layer.size;
    policy.declared_entries = entries;
    policy.declared_unpacked_size = layer.unpacked_size;
    layers::FileSource file(blob);
    layers::ZstdSource zstd(file);
    return layers::StageLayer(zstd, dir, layer.diff_id, policy);
  };
  auto staged = stage(*layer.entries, tmp_ / "layers");
  ASSERT_TRUE(staged.has_value()) << staged.error().message();
  EXPECT_EQ(staged->entries, *layer.entries);
  auto refused = stage(*layer.entries - 1, tmp_ / "layers-2");
  ASSERT_FALSE(refused.has_value());
  EXPECT_TRUE(refused.error().Is(layers::LayersErrc::kTooManyEntries)) << refused.error().message();
}

TEST_F(ReleaseTest, SameTreeGivesTheSameLayerBytes) {
  ASSERT_EQ(Release("1.0.0", 1).exit_code, 0);
  // A second repository, the same tree copied elsewhere (new inodes, same metadata).
  TempDir other;
  ASSERT_EQ(
      Publish({"init", "--repo", (other / "repo").string(), "--keys", (other / "keys").string()})
          .exit_code,
      0);
  stdfs::copy(tmp_ / "rootfs-1", other / "copy",
              stdfs::copy_options::recursive | stdfs::copy_options::copy_symlinks);
  MakeRootfs(other / "copy", 1);  // restores the fixed mtimes the copy changed
  auto r = Publish({"release", "--repo", (other / "repo").string(), "--keys",
                    (other / "keys").string(), "--app", "web", "--version", "1.0.0", "--image",
                    (other / "copy").string(), "--app-config", app_config_.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto a = LoadManifest(repo(), "web", "1.0.0");
  const auto b = LoadManifest(other / "repo", "web", "1.0.0");
  EXPECT_EQ(a.layers[0].diff_id, b.layers[0].diff_id);
  EXPECT_EQ(a.layers[0].blob.digest, b.layers[0].blob.digest);
}

TEST_F(ReleaseTest, SecondReleaseCarriesDeltasThatRebuildTheNewLayer) {
  ASSERT_EQ(Release("1.0.0", 1).exit_code, 0);
  ASSERT_EQ(Release("1.1.0", 2).exit_code, 0);
  auto r = Release("1.2.0", 3);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 delta(s)"), std::string::npos) << r.out;

  const auto v1 = LoadManifest(repo(), "web", "1.0.0");
  const auto v3 = LoadManifest(repo(), "web", "1.2.0");
  ASSERT_EQ(v3.layers.size(), 1u);
  const auto& layer = v3.layers[0];
  ASSERT_EQ(layer.deltas.size(), 2u);  // from 1.1.0 and from 1.0.0
  const manifest::Delta* from_v1 = nullptr;
  for (const auto& d : layer.deltas) {
    if (d.from_diff_id == v1.layers[0].diff_id) {
      from_v1 = &d;
    }
    EXPECT_LT(d.blob.size, layer.blob.size / 4) << "a small change gives a small delta";
  }
  ASSERT_NE(from_v1, nullptr);

  // A device on 1.0.0: its unpacked layer plus the delta give exactly the signed diff_id.
  UnpackBlob(BlobFile(repo(), v1.layers[0].blob.digest), tmp_ / "old");
  std::string rebuilt;
  delta::FunctionSink sink([&](std::span<const std::uint8_t> bytes) -> Status {
    rebuilt.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Ok();
  });
  auto st = delta::ApplyDelta(tmp_ / "old", BlobFile(repo(), from_v1->blob.digest), sink);
  ASSERT_TRUE(st.has_value()) << st.error().String();
  EXPECT_EQ("sha256:" + Sha256Hex(rebuilt), layer.diff_id);
  EXPECT_EQ(rebuilt.size(), layer.size);

  auto v = Publish({"verify", "--repo", repo().string()});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(ReleaseTest, ADamagedStoredBlobIsReplacedWhenTheSameLayerIsReleasedAgain) {
  ASSERT_EQ(Release("1.0.0", 1).exit_code, 0);
  const auto m = LoadManifest(repo(), "web", "1.0.0");
  const auto blob = BlobFile(repo(), m.layers[0].blob.digest);
  const std::string good = ReadFile(blob);
  WriteFile(blob, good.substr(0, good.size() / 2));
  ASSERT_EQ(Publish({"verify", "--repo", repo().string()}).exit_code, 1);
  // 1.0.1 has the very same layer: publishing it repairs the shared blob.
  auto r = Release("1.0.1", 1);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(blob), good);
  EXPECT_EQ(Publish({"verify", "--repo", repo().string()}).exit_code, 0);
}

TEST_F(ReleaseTest, KeepDeltasLimitsTheBases) {
  ASSERT_EQ(Release("1.0.0", 1).exit_code, 0);
  ASSERT_EQ(Release("1.1.0", 2).exit_code, 0);
  ASSERT_EQ(Release("1.2.0", 3, {"--keep-deltas", "1"}).exit_code, 0);
  const auto v2 = LoadManifest(repo(), "web", "1.1.0");
  const auto v3 = LoadManifest(repo(), "web", "1.2.0");
  ASSERT_EQ(v3.layers[0].deltas.size(), 1u);
  EXPECT_EQ(v3.layers[0].deltas[0].from_diff_id, v2.layers[0].diff_id);
}

TEST_F(ReleaseTest, RefusesAnExistingVersion) {
  ASSERT_EQ(Release("1.0.0", 1).exit_code, 0);
  auto r = Release("1.0.0", 2);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already published"), std::string::npos) << r.err;
  auto build = Release("1.0.0+build.7", 2);  // build metadata does not make a new version
  EXPECT_EQ(build.exit_code, 1);
}

TEST_F(ReleaseTest, DowngradeNeedsTheFlagAndIsSigned) {
  ASSERT_EQ(Release("2.0.0", 2).exit_code, 0);
  auto r = Release("1.0.0", 1);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--downgrade"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(repo() / "metadata" / "3.targets.json")) << "nothing signed";

  auto ok = Release("1.0.0", 1, {"--downgrade"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(LoadManifest(repo(), "web", "1.0.0").downgrade);
  EXPECT_FALSE(LoadManifest(repo(), "web", "2.0.0").downgrade);
  EXPECT_EQ(Publish({"verify", "--repo", repo().string()}).exit_code, 0);
}

TEST_F(ReleaseTest, BadInputGetsAClearError) {
  auto semver = Release("1.0", 1);
  EXPECT_EQ(semver.exit_code, 2);
  EXPECT_NE(semver.err.find("--version 1.0"), std::string::npos) << semver.err;

  auto missing = Publish({"release", "--repo", repo().string(), "--keys", keys().string(), "--app",
                          "web", "--version", "1.0.0", "--image", (tmp_ / "nothing").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;

  auto no_repo =
      Publish({"release", "--repo", (tmp_ / "elsewhere").string(), "--keys", keys().string(),
               "--app", "web", "--version", "1.0.0", "--image", tmp_.path().string()});
  EXPECT_EQ(no_repo.exit_code, 1);
  EXPECT_NE(no_repo.err.find("not a Ferry repository"), std::string::npos) << no_repo.err;

  auto bad_app = Publish({"release", "--repo", repo().string(), "--keys", keys().string(), "--app",
                          "Web App", "--version", "1.0.0", "--image", tmp_.path().string()});
  EXPECT_EQ(bad_app.exit_code, 2);

  MakeRootfs(tmp_ / "rootfs", 1);
  auto no_cmd = Publish({"release", "--repo", repo().string(), "--keys", keys().string(), "--app",
                         "web", "--version", "1.0.0", "--image", (tmp_ / "rootfs").string()});
  EXPECT_EQ(no_cmd.exit_code, 1);
  EXPECT_NE(no_cmd.err.find("entrypoint or a cmd"), std::string::npos) << no_cmd.err;
  EXPECT_TRUE(stdfs::is_empty(repo() / "blobs" / "sha256")) << "nothing stored for a refusal";

  auto bad_config =
      Publish({"release", "--repo", repo().string(), "--keys", keys().string(), "--app", "web",
               "--version", "1.0.0", "--image", (tmp_ / "rootfs").string(), "--app-config",
               WriteAppConfig(tmp_ / "bad", R"({"cmd":["/x"],"colour":"red"})").string()});
  EXPECT_EQ(bad_config.exit_code, 1);
  EXPECT_NE(bad_config.err.find("unknown key 'colour'"), std::string::npos) << bad_config.err;

  auto no_keys =
      Publish({"release", "--repo", repo().string(), "--keys", (tmp_ / "nokeys").string(), "--app",
               "web", "--version", "1.0.0", "--image", (tmp_ / "rootfs").string(), "--app-config",
               app_config_.string()});
  EXPECT_EQ(no_keys.exit_code, 1);
  EXPECT_NE(no_keys.err.find("role targets"), std::string::npos) << no_keys.err;

  auto owner = Publish({"release", "--repo", repo().string(), "--keys", keys().string(), "--app",
                        "web", "--version", "1.0.0", "--image", (tmp_ / "rootfs").string(),
                        "--app-config", app_config_.string(), "--rootfs-owner", "root"});
  EXPECT_EQ(owner.exit_code, 2);
  EXPECT_NE(owner.err.find("not UID:GID"), std::string::npos) << owner.err;

  auto usage = Publish({"release", "--repo", repo().string()});
  EXPECT_EQ(usage.exit_code, 2);
}

}  // namespace
}  // namespace ferry::publish::testing
