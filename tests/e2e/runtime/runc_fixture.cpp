#include "runc_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "ferry/core/fs.hpp"
#include "support/cgroups.hpp"
#include "support/prerequisite.hpp"
#include "support/process.hpp"

namespace ferry::runtime::e2e {

namespace stdfs = std::filesystem;

stdfs::path FindRunc() {
  if (const char* env = std::getenv("FERRY_RUNC"); env != nullptr) {
    return env;
  }
  for (const char* p :
       {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}) {
    if (::access(p, X_OK) == 0) {
      return p;
    }
  }
  return {};
}

stdfs::path FindBusybox() {
  for (const char* p : {"/bin/busybox", "/usr/bin/busybox"}) {
    if (::access(p, X_OK) == 0) {
      return p;
    }
  }
  return {};
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::optional<std::string> HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

void RuncTest::SetUp() {
  if (::geteuid() != 0) {
    FERRY_SKIP_UNLESS_PREPARED("runc e2e tests need root (euid is " << ::geteuid() << ")");
  }
  const auto runc = FindRunc();
  if (runc.empty()) {
    FERRY_SKIP_UNLESS_PREPARED(
        "runc is not installed (looked in /usr/sbin, /usr/bin, /usr/local; FERRY_RUNC names "
        "another)");
  }
  ASSERT_FALSE(FindBusybox().empty()) << "busybox-static is needed to build the test rootfs";
  static std::atomic<int> counter{0};
  config_.binary = runc;
  config_.root = dir_ / "runc-root";
  config_.state_dir = dir_ / "state";
  config_.log_dir = dir_ / "logs";
  config_.log_check_interval = std::chrono::milliseconds(0);
  config_.cgroups_parent =
      "/ferry-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  runtime_.emplace(config_);
  rootfs_ = MakeRootfs("rootfs");
}

void RuncTest::TearDown() {
  if (!runtime_) {
    return;
  }
  for (const auto& id : ids_) {
    auto deleted = runtime_->Delete(id);
    EXPECT_TRUE(deleted) << id << ": " << deleted.error().message();
  }
  runtime_.reset();
  // The per-test cgroup parent is left empty by runc delete in every hierarchy; remove it (and,
  // after a failed test, the container's own cgroup below it).
  for (const auto& left : ferry::testing::RemoveCgroupTree(config_.cgroups_parent)) {
    ADD_FAILURE() << "cgroup " << left;
  }
}

stdfs::path RuncTest::MakeRootfs(const std::string& name) {
  const stdfs::path root = dir_ / name;
  for (const char* d :
       {"bin", "proc", "dev", "sys", "tmp", "run", "etc", "www", "data", "mnt", "var/cache"}) {
    stdfs::create_directories(root / d);
  }
  stdfs::copy_file(FindBusybox(), root / "bin/busybox");
  for (const char* applet :
       {"sh", "httpd", "cat", "grep", "sleep", "unshare", "mount", "echo", "touch", "id", "head",
        "wc", "ls", "true", "false", "cut", "tr", "test"}) {
    stdfs::create_symlink("busybox", root / "bin" / applet);
  }
  EXPECT_TRUE(fs::WriteFileAtomic(root / "www/index.html", "<h1>hello from ferry</h1>\n"));
  EXPECT_TRUE(fs::WriteFileAtomic(root / "etc/passwd", "root:x:0:0:root:/:/bin/sh\n"));
  return root;
}

ContainerSpec RuncTest::Spec(const std::string& revision, std::vector<std::string> args) {
  ContainerSpec spec;
  spec.app = "demo";
  spec.revision = revision;
  spec.rootfs = rootfs_;
  spec.args = std::move(args);
  spec.env = {"PATH=/bin"};
  spec.limits.memory_bytes = 64u << 20;
  spec.limits.pids = 64;
  spec.limits.cpus = 0.5;
  return spec;
}

void RuncTest::Run(const std::string& id, const ContainerSpec& spec) {
  ids_.push_back(id);
  auto created = runtime_->Create(id, spec, dir_ / "bundles" / id);
  ASSERT_TRUE(created) << created.error().message();
  auto started = runtime_->Start(id);
  ASSERT_TRUE(started) << started.error().message();
}

ContainerState RuncTest::WaitStopped(const std::string& id, std::chrono::milliseconds timeout) {
  ContainerState last;
  const bool stopped = ferry::testing::WaitFor(
      [&] {
        auto s = runtime_->State(id);
        if (!s) {
          ADD_FAILURE() << s.error().message();
          return true;
        }
        last = *s;
        return s->status == ContainerStatus::kStopped;
      },
      timeout);
  EXPECT_TRUE(stopped) << id << " still " << StatusName(last.status);
  return last;
}

std::string RuncTest::ReadLog(const std::string& revision) {
  auto text = fs::ReadFile(config_.log_dir / "demo" / (revision + ".log"));
  return text ? *text : std::string();
}

}  // namespace ferry::runtime::e2e
