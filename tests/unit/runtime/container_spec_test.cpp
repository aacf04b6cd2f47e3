#include "ferry/runtime/container_spec.hpp"

#include <gtest/gtest.h>

#include "ferry/runtime/errors.hpp"

namespace ferry::runtime {
namespace {

ContainerSpec GoodSpec() {
  ContainerSpec spec;
  spec.app = "web";
  spec.revision = "r1";
  spec.rootfs = "/var/lib/ferry/apps/web/revisions/r1/rootfs";
  spec.args = {"/bin/httpd", "-f"};
  return spec;
}

TEST(ContainerSpec, GoodSpecPasses) { EXPECT_TRUE(ValidateSpec(GoodSpec())); }

TEST(ContainerSpec, RefusesBadVolumeNames) {
  for (const char* name :
       {"", "Data", "-data", ".data", "../etc", "a/b", "data\n", "with space", "_x"}) {
    auto r = ValidateVolumeName(name);
    ASSERT_FALSE(r) << name;
    EXPECT_TRUE(r.error().Is(RuntimeErrc::kInvalidSpec));
  }
  EXPECT_FALSE(ValidateVolumeName(std::string(65, 'a')));
  for (const char* name : {"data", "0", "my-vol_1.2"}) {
    EXPECT_TRUE(ValidateVolumeName(name)) << name;
  }
}

TEST(ContainerSpec, RefusesBadContainerPaths) {
  for (const char* path : {"", "data", "/", "/a/../b", "/a/./b", "/a//b", "/a/", "/..", "/proc",
                           "/proc/sys", "/sys/kernel", "/dev", "/dev/sda"}) {
    auto r = ValidateContainerPath(path);
    ASSERT_FALSE(r) << path;
    EXPECT_TRUE(r.error().Is(RuntimeErrc::kInvalidSpec)) << path;
  }
  EXPECT_FALSE(ValidateContainerPath(std::string("/a\0b", 4)));
  for (const char* path : {"/data", "/var/lib/app", "/processes", "/device"}) {
    EXPECT_TRUE(ValidateContainerPath(path)) << path;
  }
}

TEST(ContainerSpec, VolumeWithBadValuesIsRefusedWithItsName) {
  auto spec = GoodSpec();
  spec.volumes.push_back({"data", "/var/../etc", false});
  auto r = ValidateSpec(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("volume data"), std::string::npos) << r.error().message();
}

TEST(ContainerSpec, RefusesCapabilitiesOutsideDockerDefaults) {
  for (const char* cap : {"SYS_ADMIN", "CAP_SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE",
                          "DAC_READ_SEARCH", "BPF", "sys_admin", "ALL"}) {
    auto spec = GoodSpec();
    spec.capabilities = std::vector<std::string>{"CHOWN", cap};
    auto r = ValidateSpec(spec);
    ASSERT_FALSE(r) << cap;
    EXPECT_TRUE(r.error().Is(RuntimeErrc::kRefused)) << cap;
    EXPECT_NE(r.error().message().find(cap), std::string::npos) << r.error().message();
  }
}

TEST(ContainerSpec, ParsesNumericUsersOnly) {
  EXPECT_EQ(*ParseUser("1000:2000"), std::make_pair(1000u, 2000u));
  EXPECT_EQ(*ParseUser("1000"), std::make_pair(1000u, 1000u));
  EXPECT_EQ(*ParseUser("root"), std::make_pair(0u, 0u));
  EXPECT_EQ(*ParseUser(""), std::make_pair(0u, 0u));
  for (const char* bad : {"nobody", "1000:staff", "-1", "1000:", ":1", "99999999999", "1 000"}) {
    EXPECT_FALSE(ParseUser(bad)) << bad;
  }
}

TEST(ContainerSpec, RefusesMalformedFields) {
  auto bad = [](auto mutate) {
    auto spec = GoodSpec();
    mutate(spec);
    return !ValidateSpec(spec);
  };
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.app = "Web"; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.app = "../x"; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.revision = "r/1"; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.rootfs = "relative/rootfs"; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.args.clear(); }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.env = {"NOEQUALS"}; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.env = {"=value"}; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.working_dir = "app"; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.working_dir = "/app/../.."; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.hostname = "bad host"; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.limits.pids = 0; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.limits.cpus = -1; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.limits.memory_bytes = 1024; }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.tmpfs = {{"/tmp", 1024}}; }));  // twice at /tmp
  EXPECT_TRUE(bad([](ContainerSpec& s) {
    s.volumes = {{"a", "/data", false}, {"b", "/data", false}};
  }));
  EXPECT_TRUE(bad([](ContainerSpec& s) { s.labels[""] = "x"; }));
}

}  // namespace
}  // namespace ferry::runtime
