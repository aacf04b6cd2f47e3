// Issue #15 on a real device: a release whose upper layer makes a lower layer's directory `a/`
// (holding `a/sub/`) a symlink to a host directory that also holds `sub/`. ferryd runs as root and
// is configured for each root filesystem kind (one whiteout in the release takes `auto` to the
// hardlink farm); whichever it would build, the release is refused before it is built, with an
// error naming the layer and the entry, the host directory keeps its contents, modes, owners and
// times, and the running version still answers.
// Needs root, runc and busybox.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "device_lab.hpp"
#include "ferry/core/fs.hpp"
#include "support/sentinel.hpp"

namespace ferry {
namespace {

using Json = nlohmann::json;
namespace stdfs = std::filesystem;
using ::ferry::testing::SnapshotTree;

class HostileStackE2e : public testing::DeviceLab,
                        public ::testing::WithParamInterface<const char*> {
 protected:
  void Tar(const stdfs::path& dir, const stdfs::path& out) {
    auto r = ferry::testing::Run({"tar", "--format=pax", "--sort=name", "--mtime=@0",
                                  "--owner=4242", "--group=4242", "--numeric-owner", "-C",
                                  dir.string(), "-cf", out.string(), "."});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Version `v` as a docker save tarball of two layers: the app with `a/sub/`, then `a` as a
  // symlink to `host` (and with `whiteout`, one whiteout, which makes any mode build a hardlink
  // farm); signed into the repository and bundled.
  void HostileRelease(const std::string& v, const stdfs::path& host, bool whiteout) {
    const stdfs::path work = dir_ / ("hostile-" + v);
    const stdfs::path app = work / "app";
    stdfs::create_directories(work);
    stdfs::copy(dir_ / "image-1.0.0", app,
                stdfs::copy_options::recursive | stdfs::copy_options::copy_symlinks);
    std::ofstream(app / "www" / "index.html", std::ios::trunc) << "version " << v;
    stdfs::create_directories(app / "a" / "sub");
    ::chmod((app / "a" / "sub").c_str(), 0700);
    const stdfs::path upper = work / "upper";
    stdfs::create_directories(upper);
    stdfs::create_symlink(host, upper / "a");
    if (whiteout) {
      std::ofstream(upper / ".wh.gone") << "";
    }
    const stdfs::path save = work / "save";
    stdfs::create_directories(save);
    Tar(app, save / "l1.tar");
    Tar(upper, save / "l2.tar");
    std::ofstream(save / "config.json") << Json{{"os", "linux"}}.dump();
    std::ofstream(save / "manifest.json") << Json::array({{{"Config", "config.json"},
                                                           {"RepoTags", {"web:" + v}},
                                                           {"Layers", {"l1.tar", "l2.tar"}}}})
                                                 .dump();
    auto t = ferry::testing::Run({"tar", "-C", save.string(), "-cf", (work / "image.tar").string(),
                                  "manifest.json", "config.json", "l1.tar", "l2.tar"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    auto r = Publish({"release", "--repo", Repo().string(), "--keys", Keys(), "--app", "web",
                      "--version", v, "--image", (work / "image.tar").string(), "--app-config",
                      (dir_ / "app-1.0.0.json").string(), "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto b = Publish(
        {"bundle", "--repo", Repo().string(), "--app", "web", "--version", v, "--out", Bundle(v)});
    ASSERT_EQ(b.exit_code, 0) << b.err;
  }
};

TEST_P(HostileStackE2e, SymlinkOverADirectoryIsRefusedAndNeverReachesTheHost) {
  const stdfs::path host = dir_ / "host-dir";
  stdfs::create_directories(host / "sub");
  std::ofstream(host / "sub" / "file") << "host";
  ::chmod((host / "sub").c_str(), 0751);
  ASSERT_EQ(::chown((host / "sub").c_str(), 4321, 4321), 0);
  const auto before = SnapshotTree(host);

  Release("1.0.0");
  // Overlay mode gets no whiteout, so that it really mounts an overlay; auto gets one, the
  // default configuration's exposure in the finding.
  HostileRelease("2.0.0", host, std::string(GetParam()) != "overlay");
  runtime_config_ = std::string("rootfs = \"") + GetParam() + "\"";
  StartFerryd();
  ASSERT_EQ(Ferry({"install", Bundle("1.0.0")}).exit_code, 0) << Log();
  ASSERT_EQ(Page(), "version 1.0.0");

  auto r = Ferry({"install", Bundle("2.0.0")});
  EXPECT_EQ(SnapshotTree(host), before) << Log();
  EXPECT_NE(r.exit_code, 0) << r.out << r.err << Log();
  const std::string said = r.out + r.err;
  EXPECT_NE(said.find("entry \"a\" replaces a directory of an earlier layer with a symlink"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("layer sha256:"), std::string::npos) << said;
  // The running revision still answers, and nothing of 2.0.0 was left half-staged.
  EXPECT_EQ(Page(), "version 1.0.0");
  for (const auto& e : stdfs::recursive_directory_iterator(
           dir_ / "state" / "apps", stdfs::directory_options::skip_permission_denied)) {
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
  }
  EXPECT_EQ(SnapshotTree(host), before);
}

// The same release deployed from the fleet server: the device reports the deployment failed,
// with the reason naming the entry, and keeps serving the version it runs.
TEST_P(HostileStackE2e, ThroughAFleetDeploymentTheDeviceReportsTheRefusal) {
  using namespace std::chrono_literals;
  const stdfs::path host = dir_ / "host-dir";
  stdfs::create_directories(host / "sub");
  std::ofstream(host / "sub" / "file") << "host";
  const auto before = SnapshotTree(host);

  Release("1.0.0");
  HostileRelease("2.0.0", host, std::string(GetParam()) != "overlay");
  runtime_config_ = std::string("rootfs = \"") + GetParam() + "\"";
  StartServer(true);
  Provision("dev-1", dir_ / "device-token");
  StartFerryd({}, "server_url = \"" + ServerUrl() + "\"\ndevice_token_file = \"" +
                      (dir_ / "device-token").string() + "\"\npoll_interval = \"1s\"\n");
  auto deploy = [&](const std::string& version) {
    auto r = Admin(
        {"--json", "deploy", "create", "--app", "web", "--version", version, "--device", "dev-1"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? Json::parse(r.out)["deployment"]["id"].get<std::string>() : "";
  };
  auto deployment = [&](const std::string& id) {
    auto r = Admin({"--json", "deploy", "status", id});
    return r.exit_code == 0 ? Json::parse(r.out)["deployment"] : Json();
  };
  auto reaches = [&](const std::string& id, const std::string& state) {
    return ferry::testing::WaitFor(
        [&] {
          Json d = deployment(id);
          return d.is_object() && d["counts"].value(state, 0) == 1;
        },
        60s);
  };
  ASSERT_TRUE(reaches(deploy("1.0.0"), "committed")) << Log();
  ASSERT_EQ(Page(), "version 1.0.0");

  const std::string d2 = deploy("2.0.0");
  ASSERT_TRUE(reaches(d2, "failed")) << deployment(d2).dump(2) << Log();
  EXPECT_NE(deployment(d2)["failures"][0]["reason"].get<std::string>().find(
                "entry \"a\" replaces a directory of an earlier layer with a symlink"),
            std::string::npos)
      << deployment(d2).dump(2);
  EXPECT_EQ(Page(), "version 1.0.0");
  EXPECT_EQ(CurrentVersion(), "1.0.0");
  EXPECT_EQ(SnapshotTree(host), before);
}

INSTANTIATE_TEST_SUITE_P(RootfsKinds, HostileStackE2e,
                         ::testing::Values("auto", "hardlink", "overlay"),
                         [](const auto& param_info) { return std::string(param_info.param); });

}  // namespace
}  // namespace ferry
