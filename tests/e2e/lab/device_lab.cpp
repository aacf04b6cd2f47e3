#include "device_lab.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include "ferry/core/fs.hpp"
#include "support/cgroups.hpp"
#include "support/mounts.hpp"
#include "support/prerequisite.hpp"

namespace ferry::testing {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace stdfs = std::filesystem;

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

void DeviceLab::SetUp() {
  if (::geteuid() != 0 || !stdfs::exists("/usr/sbin/runc") || !stdfs::exists("/bin/busybox")) {
    FERRY_SKIP_UNLESS_PREPARED("needs root, runc and busybox-static");
  }
  port_ = FreePort();
  static std::atomic<int> counter{0};
  cgroup_parent_ = "/ferry-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  ASSERT_EQ(Publish({"init", "--repo", Repo().string(), "--keys", Keys()}).exit_code, 0);
}

void DeviceLab::TearDown() {
  ferryd_.reset();
  server_.reset();
  for (const auto& id : Containers()) {
    ferry::testing::Run({"runc", "--root", (dir_ / "runc").string(), "delete", "--force", id});
  }
  // Overlay root filesystems stay mounted when ferryd stops (its containers may live on).
  UnmountAllBelow(dir_.path());
  if (!cgroup_parent_.empty()) {
    for (const auto& left : RemoveCgroupTree(cgroup_parent_)) {
      ADD_FAILURE() << "cgroup " << left;
    }
  }
}

RunResult DeviceLab::Publish(std::vector<std::string> args) {
  args.insert(args.begin(), BuiltProgram("ferry-publish").string());
  return ferry::testing::Run(args);
}

void DeviceLab::Release(const std::string& v, const std::string& kind, bool downgrade,
                        const Json& health_keys) {
  const auto image = dir_ / ("image-" + v);
  stdfs::create_directories(image / "bin");
  stdfs::create_directories(image / "www");
  stdfs::copy_file("/bin/busybox", image / "bin" / "busybox");
  stdfs::create_symlink("busybox", image / "bin" / "sh");
  std::ofstream(image / "www" / "index.html") << "version " << v;
  stdfs::create_directories(image / "www" / "cgi-bin");
  {
    std::ofstream health(image / "www" / "cgi-bin" / "health");
    health << "#!/bin/sh\n"
           << (kind == "500" ? "echo 'Status: 500 Internal Server Error'\n"
               : kind == "sickens"
                   ? "if [ -e /tmp/sick ]; then echo 'Status: 500 Internal Server Error'; "
                     "else echo 'Status: 200 OK'; fi\n"
                   : "echo 'Status: 200 OK'\n")
           << "echo 'Content-Type: text/plain'\necho\necho " << kind << "\n";
  }
  stdfs::permissions(image / "www" / "cgi-bin" / "health", stdfs::perms(0755));
  if (payload_bytes_ > 0) {
    stdfs::create_directories(image / "data");
    std::mt19937_64 random(1);
    std::vector<std::uint64_t> block((64u << 10) / sizeof(std::uint64_t));
    for (std::uint64_t done = 0, i = 0; done < payload_bytes_; done += 1u << 20, ++i) {
      for (auto& word : block) {
        word = random();
      }
      std::ofstream file(image / "data" / ("blob-" + std::to_string(i)), std::ios::binary);
      for (int k = 0; k < 16; ++k) {
        file.write(reinterpret_cast<const char*>(block.data()),
                   static_cast<std::streamsize>(block.size() * sizeof(std::uint64_t)));
      }
    }
  }
  const std::string listen = "127.0.0.1:" + std::to_string(port_);
  Json entry = Json::array({"/bin/busybox", "httpd", "-f", "-p", listen, "-h", "/www"});
  if (kind == "exits") {
    entry = Json::array({"/bin/busybox", "false"});
  } else if (kind == "hangs") {
    entry = Json::array({"/bin/busybox", "sleep", "100000"});
  } else if (kind == "crashes") {
    entry = Json::array({"/bin/busybox", "sh", "-c", "sleep 1; exit 3"});
  } else if (kind == "serves-2s") {
    entry = Json::array({"/bin/busybox", "sh", "-c",
                         "/bin/busybox httpd -f -p " + listen +
                             " -h /www & /bin/busybox sleep 2; "
                             "exit 3"});
  } else if (kind == "sickens") {
    entry = Json::array({"/bin/busybox", "sh", "-c",
                         "(/bin/busybox sleep 3; /bin/busybox touch /tmp/sick) & "
                         "exec /bin/busybox httpd -f -p " +
                             listen + " -h /www"});
  } else if (kind == "chatty") {
    // Serves like a good one, and writes to stdout and stderr: a line at start, then a tick
    // every 200 ms.
    entry = Json::array({"/bin/busybox", "sh", "-c",
                         "echo web says hello; echo web warns >&2; "
                         "(i=0; while /bin/busybox sleep 0.2; do i=$((i+1)); echo tick $i; done) & "
                         "exec /bin/busybox httpd -f -p " +
                             listen + " -h /www"});
  }
  Json health{{"kind", "http"},
              {"url", "http://" + listen + "/cgi-bin/health"},
              {"interval_s", 0.25},
              {"successes", 2},
              {"deadline_s", trial_deadline_s_}};
  if (kind == "slow-probe") {
    // Serves, but each probe of its health check takes 20 s.
    health = Json{{"kind", "exec"},
                  {"command", Json::array({"/bin/busybox", "sleep", "20"})},
                  {"timeout_s", 25},
                  {"deadline_s", 30}};
  }
  if (kind == "idle" || kind == "idle-crashes") {
    // No port: several devices on one host can run it side by side.
    entry = kind == "idle" ? Json::array({"/bin/busybox", "sleep", "100000"})
                           : Json::array({"/bin/busybox", "sh", "-c", "sleep 0.3; exit 3"});
    health = Json{{"kind", "process"}, {"up_s", 1}, {"deadline_s", 5}};
  }
  for (const auto& [key, value] : health_keys.items()) {
    health[key] = value;
  }
  Json app{{"entrypoint", entry}, {"health", health}};
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / ("app-" + v + ".json"), app.dump()));
  std::vector<std::string> args = {"release",
                                   "--repo",
                                   Repo().string(),
                                   "--keys",
                                   Keys(),
                                   "--app",
                                   "web",
                                   "--version",
                                   v,
                                   "--image",
                                   image.string(),
                                   "--app-config",
                                   (dir_ / ("app-" + v + ".json")).string(),
                                   "--quiet"};
  if (downgrade) {
    args.push_back("--downgrade");
  }
  if (!deltas_) {
    args.insert(args.end(), {"--keep-deltas", "0"});
  }
  auto r = Publish(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto b = Publish(
      {"bundle", "--repo", Repo().string(), "--app", "web", "--version", v, "--out", Bundle(v)});
  ASSERT_EQ(b.exit_code, 0) << b.err;
}

void DeviceLab::StartFerryd(const std::map<std::string, std::string>& env,
                            const std::string& extra_config) {
  const std::string config = "state_dir = \"" + (dir_ / "state").string() + "\"\nsocket = \"" +
                             (dir_ / "ferryd.sock").string() + "\"\ntrusted_root = \"" +
                             (Repo() / "metadata/1.root.json").string() + "\"\n" + extra_config +
                             "\n[runtime]\nroot = \"" + (dir_ / "runc").string() +
                             "\"\nstop_timeout = 1\ncgroup_parent = \"" + cgroup_parent_ + "\"\n" +
                             runtime_config_ + "\n";
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "ferryd.toml", config));
  ferryd_ = std::make_unique<Child>(
      std::vector<std::string>{BuiltProgram("ferryd"), "--config", (dir_ / "ferryd.toml").string()},
      env, dir_ / "ferryd.log");
  ASSERT_TRUE(WaitFor([&] { return Ferry({"status"}).exit_code == 0; }, 30s)) << Log();
}

RunResult DeviceLab::Ferry(std::vector<std::string> args) {
  args.insert(args.begin(),
              {BuiltProgram("ferry").string(), "--socket", (dir_ / "ferryd.sock").string()});
  return ferry::testing::Run(args);
}

Json DeviceLab::Status() {
  auto r = Ferry({"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? Json::parse(r.out) : Json();
}

std::string DeviceLab::CurrentVersion() {
  Json s = Status();
  if (!s.is_object() || s["apps"].empty() || s["apps"][0]["current"].is_null()) {
    return "";
  }
  return s["apps"][0]["current"]["version"];
}

std::string DeviceLab::Page() {
  auto r = ferry::testing::Run(
      {"curl", "-s", "--max-time", "2", "http://127.0.0.1:" + std::to_string(port_) + "/"});
  return r.exit_code == 0 ? r.out : "";
}

std::vector<std::string> DeviceLab::Containers() {
  auto r = ferry::testing::Run({"runc", "--root", (dir_ / "runc").string(), "list", "-q"});
  std::vector<std::string> ids;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      ids.push_back(line);
    }
  }
  return ids;
}

std::string DeviceLab::Log() {
  auto t = fs::ReadFile(dir_ / "ferryd.log");
  return t ? *t : "";
}

std::vector<std::string> DeviceLab::OracleProblems(const std::string& page) {
  // Converged: ferryd answers, has finished its start-up recovery, has no update in flight, and
  // the app serves the page (by default that of the version `current` names).
  Json status;
  const bool converged = WaitFor(
      [&] {
        auto r = Ferry({"status", "--json"});
        status = r.exit_code == 0 ? Json::parse(r.out, nullptr, false) : Json();
        if (!status.is_object() ||
            status.value("agent", Json::object()).value("recovering", false) ||
            !status["apps"].is_array() || status["apps"].empty()) {
          return false;
        }
        const Json& app = status["apps"][0];
        if (!app["update"].is_null() || !app["current"].is_object()) {
          return false;
        }
        const std::string expected =
            page.empty() ? "version " + app["current"]["version"].get<std::string>() : page;
        return Page() == expected;
      },
      60s);
  if (!converged) {
    return {"ferryd did not converge within 60 s; last status: " + status.dump()};
  }
  if (std::string(FERRY_PYTHON3).empty()) {
    return {"python3 was not found when the build was configured: the oracle cannot run"};
  }
  std::vector<std::string> args = {
      FERRY_PYTHON3,     std::string(FERRY_SOURCE_DIR) + "/tests/campaign/oracle.py",
      "--state-dir",     (dir_ / "state").string(),
      "--app",           "web",
      "--repo",          Repo().string(),
      "--runc",          "/usr/sbin/runc",
      "--runc-root",     (dir_ / "runc").string(),
      "--cgroup-parent", cgroup_parent_,
      "--port",          std::to_string(port_),
      "--verbose"};
  if (!page.empty()) {
    args.insert(args.end(), {"--page", page});
  }
  auto r = ferry::testing::Run(args);
  std::vector<std::string> problems;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      problems.push_back(line);
    }
  }
  if (r.exit_code == 0 && problems.empty()) {
    return {};
  }
  if (r.exit_code != 1 || problems.empty()) {
    problems.push_back("the oracle exited with status " + std::to_string(r.exit_code) + ": " +
                       r.err);
  }
  return problems;
}

void DeviceLab::ExpectOracleHolds(const std::string& page) {
  const auto problems = OracleProblems(page);
  std::string all;
  for (const auto& p : problems) {
    all += "  " + p + "\n";
  }
  EXPECT_TRUE(problems.empty()) << "the oracle found " << problems.size() << " problem(s):\n"
                                << all << Log();
}

void DeviceLab::StartServer(bool fleet, const std::vector<std::string>& extra) {
  std::vector<std::string> args = extra;
  if (fleet) {
    ASSERT_TRUE(fs::WriteFileAtomic(
        OperatorToken(), "8f2c1d9e4b7a6053f1e2d3c4b5a69788e7d6c5b4a3928170f6e5d4c3b2a19080\n",
        0600));
    args.insert(args.end(), {"--fleet-db", (dir_ / "fleet.db").string(), "--operator-token-file",
                             OperatorToken().string()});
  }
  server_ = std::make_unique<ServerProcess>(Repo(), args, dir_ / "server.log");
  ASSERT_NE(server_->port(), 0);
}

std::string DeviceLab::ServerUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port());
}

std::size_t DeviceLab::ServerRequests(const std::string& method, const std::string& path) const {
  const std::string log = server_ ? server_->Log() : "";
  const std::string needle = " " + method + " " + path;
  std::size_t n = 0;
  for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool DeviceLab::WaitForServerRequests(const std::string& method, const std::string& path,
                                      std::size_t seen, std::size_t more,
                                      std::chrono::milliseconds timeout) const {
  return WaitFor([&] { return ServerRequests(method, path) >= seen + more; }, timeout);
}

RunResult DeviceLab::Admin(std::vector<std::string> args) {
  args.insert(args.begin(), {BuiltProgram("ferry-server").string(), "admin", "--url", ServerUrl(),
                             "--token-file", OperatorToken().string()});
  return ferry::testing::Run(args);
}

void DeviceLab::Provision(const std::string& id, const stdfs::path& token_file,
                          const std::vector<std::string>& tags) {
  std::vector<std::string> args = {"devices", "add", id, "--token-out", token_file.string()};
  for (const auto& t : tags) {
    args.insert(args.end(), {"--tag", t});
  }
  auto r = Admin(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace ferry::testing
