#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "agent/runtime/seccomp_profile.hpp"
#include "ferry/runtime/container_spec.hpp"
#include "ferry/runtime/errors.hpp"

namespace ferry::runtime {
namespace {

using nlohmann::json;

ContainerSpec Spec() {
  ContainerSpec spec;
  spec.app = "web";
  spec.revision = "r1";
  spec.rootfs = "/var/lib/ferry/apps/web/revisions/r1/rootfs";
  spec.args = {"/bin/httpd", "-f"};
  spec.env = {"PATH=/bin", "MODE=prod"};
  spec.uid = 1000;
  spec.gid = 1001;
  spec.working_dir = "/srv";
  spec.limits = {64u << 20, 100, 0.5};
  spec.volumes = {{"data", "/var/lib/web", false}, {"conf", "/etc/web", true}};
  spec.tmpfs = {{"/var/cache", 8u << 20}};
  spec.labels = {{"org.example.team", "edge"}};
  return spec;
}

HostPaths Host() {
  HostPaths host;
  host.volumes_dir = "/var/lib/ferry/volumes/web";
  return host;
}

json Build(const ContainerSpec& spec = Spec()) {
  auto r = BuildOciConfig(spec, Host());
  EXPECT_TRUE(r) << r.error().message();
  return r ? *r : json();
}

std::set<std::string> Strings(const json& array) {
  std::set<std::string> out;
  for (const auto& v : array) {
    out.insert(v.get<std::string>());
  }
  return out;
}

const json* FindMount(const json& config, const std::string& destination) {
  for (const auto& m : config["mounts"]) {
    if (m["destination"] == destination) {
      return &m;
    }
  }
  return nullptr;
}

std::set<std::string> AllowedSyscalls(const json& config) {
  std::set<std::string> names;
  for (const auto& rule : config["linux"]["seccomp"]["syscalls"]) {
    if (rule["action"] == "SCMP_ACT_ALLOW") {
      for (const auto& n : rule["names"]) {
        names.insert(n.get<std::string>());
      }
    }
  }
  return names;
}

const std::set<std::string> kDockerDefault = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

TEST(OciConfig, RootGetsDockerDefaultCapabilitiesAndNoMore) {
  auto spec = Spec();
  spec.uid = 0;
  const json c = Build(spec);
  const json& caps = c["process"]["capabilities"];
  EXPECT_EQ(Strings(caps["bounding"]), kDockerDefault);
  EXPECT_EQ(Strings(caps["effective"]), kDockerDefault);
  EXPECT_EQ(Strings(caps["permitted"]), kDockerDefault);
  EXPECT_FALSE(caps.contains("inheritable") && !caps["inheritable"].empty());
  EXPECT_FALSE(caps.contains("ambient") && !caps["ambient"].empty());
}

TEST(OciConfig, NonRootUserKeepsCapabilitiesOnlyInBoundingSet) {
  const json c = Build();
  const json& caps = c["process"]["capabilities"];
  EXPECT_EQ(Strings(caps["bounding"]), kDockerDefault);
  EXPECT_TRUE(caps["effective"].empty());
  EXPECT_TRUE(caps["permitted"].empty());
}

TEST(OciConfig, FewerCapabilitiesWhenAsked) {
  auto spec = Spec();
  spec.uid = 0;
  spec.capabilities = std::vector<std::string>{"NET_BIND_SERVICE", "CAP_CHOWN", "CHOWN"};
  const json c = Build(spec);
  EXPECT_EQ(Strings(c["process"]["capabilities"]["bounding"]),
            (std::set<std::string>{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}));
  spec.capabilities = std::vector<std::string>{};
  EXPECT_TRUE(Build(spec)["process"]["capabilities"]["bounding"].empty());
}

TEST(OciConfig, RefusesCapabilityOutsideDefaultsInsteadOfGrantingIt) {
  auto spec = Spec();
  spec.capabilities = std::vector<std::string>{"NET_BIND_SERVICE", "SYS_ADMIN"};
  auto r = BuildOciConfig(spec, Host());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(RuntimeErrc::kRefused));
  EXPECT_NE(r.error().message().find("SYS_ADMIN"), std::string::npos);
}

TEST(OciConfig, NoNewPrivilegesAndNoTerminal) {
  const json c = Build();
  EXPECT_EQ(c["process"]["noNewPrivileges"], true);
  EXPECT_EQ(c["process"]["terminal"], false);
}

TEST(OciConfig, SeccompDefaultDeniesWithEpermAndAllowsOrdinaryCalls) {
  const json c = Build();
  const json& seccomp = c["linux"]["seccomp"];
  EXPECT_EQ(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(seccomp["defaultErrnoRet"], 1);
  EXPECT_FALSE(seccomp["architectures"].empty());
  const auto allowed = AllowedSyscalls(c);
  for (const char* name : {"read", "write", "openat", "execve", "mmap", "futex", "socket", "bind",
                           "accept4", "epoll_wait", "clone", "exit_group", "nanosleep"}) {
    EXPECT_TRUE(allowed.contains(name)) << name;
  }
}

TEST(OciConfig, SeccompNeverAllowsDangerousSyscalls) {
  auto spec = Spec();
  spec.uid = 0;  // the widest capability set must not widen the filter past the forbidden list
  const auto allowed = AllowedSyscalls(Build(spec));
  for (const char* name : {"unshare",         "keyctl",       "add_key",
                           "request_key",     "bpf",          "mount",
                           "umount2",         "kexec_load",   "kexec_file_load",
                           "init_module",     "finit_module", "delete_module",
                           "ptrace",          "reboot",       "swapon",
                           "pivot_root",      "setns",        "open_by_handle_at",
                           "perf_event_open", "clone3",       "userfaultfd",
                           "io_uring_setup"}) {
    EXPECT_FALSE(allowed.contains(name)) << name;
  }
  for (const auto& name : ForbiddenSyscalls()) {
    EXPECT_FALSE(allowed.contains(name)) << name;
  }
}

TEST(OciConfig, CloneIsAllowedOnlyWithoutNamespaceFlags) {
  const json c = Build();
  bool found = false;
  for (const auto& rule : c["linux"]["seccomp"]["syscalls"]) {
    if (rule["names"] == json::array({"clone"})) {
      found = true;
      ASSERT_EQ(rule["args"].size(), 1u);
      EXPECT_EQ(rule["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
      EXPECT_EQ(rule["args"][0]["value"], 0x7E020000);  // every CLONE_NEW* flag
      EXPECT_EQ(rule["args"][0]["valueTwo"], 0);
    }
  }
  EXPECT_TRUE(found);
}

TEST(OciConfig, ChrootAllowedOnlyWithSysChroot) {
  auto spec = Spec();
  EXPECT_TRUE(AllowedSyscalls(Build(spec)).contains("chroot"));
  spec.capabilities = std::vector<std::string>{"NET_BIND_SERVICE"};
  EXPECT_FALSE(AllowedSyscalls(Build(spec)).contains("chroot"));
}

TEST(OciConfig, ReadOnlyRootWithTmpfsTmpAndRun) {
  const json c = Build();
  EXPECT_EQ(c["root"]["readonly"], true);
  EXPECT_EQ(c["root"]["path"], "/var/lib/ferry/apps/web/revisions/r1/rootfs");
  for (const char* dir : {"/tmp", "/run", "/var/cache"}) {
    const json* m = FindMount(c, dir);
    ASSERT_NE(m, nullptr) << dir;
    EXPECT_EQ((*m)["type"], "tmpfs");
    const auto options = Strings((*m)["options"]);
    EXPECT_TRUE(options.contains("nosuid") && options.contains("nodev")) << dir;
  }
  EXPECT_TRUE(Strings((*FindMount(c, "/var/cache"))["options"]).contains("size=8388608"));
  EXPECT_TRUE(Strings((*FindMount(c, "/sys"))["options"]).contains("ro"));
  EXPECT_TRUE(Strings((*FindMount(c, "/sys/fs/cgroup"))["options"]).contains("ro"));
}

TEST(OciConfig, MasksAndWriteProtectsKernelInterfaces) {
  const json c = Build();
  const auto masked = Strings(c["linux"]["maskedPaths"]);
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                        "/sys/firmware", "/proc/scsi", "/proc/acpi", "/proc/latency_stats"}) {
    EXPECT_TRUE(masked.contains(p)) << p;
  }
  const auto readonly = Strings(c["linux"]["readonlyPaths"]);
  for (const char* p : {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
    EXPECT_TRUE(readonly.contains(p)) << p;
  }
}

TEST(OciConfig, ResourceLimits) {
  const json c = Build();
  const json& r = c["linux"]["resources"];
  EXPECT_EQ(r["memory"]["limit"], 64 << 20);
  EXPECT_EQ(r["memory"]["swap"], 64 << 20);  // no swap beyond the memory limit
  EXPECT_EQ(r["pids"]["limit"], 100);
  EXPECT_EQ(r["cpu"]["quota"], 50000);
  EXPECT_EQ(r["cpu"]["period"], 100000);
  EXPECT_EQ(r["devices"], json::parse(R"([{"allow":false,"access":"rwm"}])"));
  EXPECT_EQ(c["linux"]["cgroupsPath"], "/ferry/web-r1");
}

TEST(OciConfig, OpenFileLimitNeverAboveTheHostsBound) {
  HostPaths host = Host();
  host.max_open_files = 500;
  auto r = BuildOciConfig(Spec(), host);
  ASSERT_TRUE(r);
  const json& nofile = (*r)["process"]["rlimits"][0];
  EXPECT_EQ(nofile["type"], "RLIMIT_NOFILE");
  EXPECT_EQ(nofile["hard"], 500);
  EXPECT_EQ(nofile["soft"], 500);
  EXPECT_EQ(Build()["process"]["rlimits"][0]["soft"], 1024);
}

TEST(OciConfig, NoSwapValueWhenTheKernelDoesNotAccountSwap) {
  HostPaths host = Host();
  host.swap_limit = false;
  auto r = BuildOciConfig(Spec(), host);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["linux"]["resources"]["memory"], json::parse(R"({"limit":67108864})"));
}

TEST(OciConfig, NoLimitsWhenNoneGiven) {
  auto spec = Spec();
  spec.limits = {};
  const json config = Build(spec);
  const json& r = config["linux"]["resources"];
  EXPECT_FALSE(r.contains("memory"));
  EXPECT_FALSE(r.contains("pids"));
  EXPECT_FALSE(r.contains("cpu"));
}

TEST(OciConfig, HostNetworkAndPrivateNamespaces) {
  const json c = Build();
  std::set<std::string> types;
  for (const auto& ns : c["linux"]["namespaces"]) {
    EXPECT_FALSE(ns.contains("path")) << "joining a host namespace by path";
    types.insert(ns["type"].get<std::string>());
  }
  EXPECT_EQ(types, (std::set<std::string>{"pid", "ipc", "uts", "mount", "cgroup"}));
  HostPaths host = Host();
  host.cgroup_namespace = false;
  auto r = BuildOciConfig(Spec(), host);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["linux"]["namespaces"].size(), 4u);
}

TEST(OciConfig, ImageUserWorkdirAndEnvAreCarried) {
  const json c = Build();
  EXPECT_EQ(c["process"]["user"]["uid"], 1000);
  EXPECT_EQ(c["process"]["user"]["gid"], 1001);
  EXPECT_TRUE(c["process"]["user"]["additionalGids"].empty());
  EXPECT_EQ(c["process"]["cwd"], "/srv");
  EXPECT_EQ(c["process"]["env"], json::array({"PATH=/bin", "MODE=prod"}));
  EXPECT_EQ(c["process"]["args"], json::array({"/bin/httpd", "-f"}));
  EXPECT_EQ(c["hostname"], "web");
}

TEST(OciConfig, VolumesAreBindMountsUnderTheAppsVolumeDirOnly) {
  const json c = Build();
  const json* data = FindMount(c, "/var/lib/web");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ((*data)["type"], "bind");
  EXPECT_EQ((*data)["source"], "/var/lib/ferry/volumes/web/data");
  EXPECT_TRUE(Strings((*data)["options"]).contains("rw"));
  EXPECT_TRUE(Strings((*data)["options"]).contains("nosuid"));
  const json* conf = FindMount(c, "/etc/web");
  ASSERT_NE(conf, nullptr);
  EXPECT_EQ((*conf)["source"], "/var/lib/ferry/volumes/web/conf");
  EXPECT_TRUE(Strings((*conf)["options"]).contains("ro"));
  // Every bind mount's source lies in the volumes dir: nothing else of the host is reachable.
  for (const auto& m : c["mounts"]) {
    if (m["type"] == "bind") {
      EXPECT_TRUE(m["source"].get<std::string>().starts_with("/var/lib/ferry/volumes/web/"));
    }
  }
}

TEST(OciConfig, HostileVolumeValuesAreRefused) {
  for (auto volume : std::vector<VolumeMount>{{"../../etc", "/data", false},
                                              {"/etc", "/data", false},
                                              {"data", "/../../host", false},
                                              {"data", "relative", false},
                                              {"data", "/proc/sys/kernel", false}}) {
    auto spec = Spec();
    spec.volumes = {volume};
    auto r = BuildOciConfig(spec, Host());
    ASSERT_FALSE(r) << volume.name << " " << volume.container_path;
    EXPECT_TRUE(r.error().Is(RuntimeErrc::kInvalidSpec));
  }
}

TEST(OciConfig, LabelsBecomeAnnotationsOnly) {
  auto spec = Spec();
  spec.labels["org.ferry.app"] = "spoofed";
  const json c = Build(spec);
  EXPECT_EQ(c["annotations"]["org.example.team"], "edge");
  EXPECT_EQ(c["annotations"]["org.ferry.app"], "web");  // our own keys win
  EXPECT_FALSE(c.contains("hooks"));
}

}  // namespace
}  // namespace ferry::runtime
