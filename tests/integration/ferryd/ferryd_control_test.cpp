// ferryd and ferry as a person or systemd runs them: real binaries, a real socket, a real database.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "ferry/control/control.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/store/state_store.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using testing::BuiltProgram;

class FerrydTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_ / "run" / "ferryd.sock";
    state_ = dir_ / "state";
    config_ = dir_ / "ferryd.toml";
    ASSERT_TRUE(fs::WriteFileAtomic(config_, "state_dir = \"" + state_.string() +
                                                 "\"\nsocket = \"" + socket_.string() + "\"\n"));
  }

  std::unique_ptr<testing::Child> StartFerryd() {
    auto child = std::make_unique<testing::Child>(
        std::vector<std::string>{BuiltProgram("ferryd"), "--config", config_.string()},
        std::map<std::string, std::string>{}, dir_ / "ferryd.log");
    const bool up = testing::WaitFor([&] {
      return control::Call(socket_, "ping", control::Json::object(), 200ms).has_value() ||
             !child->running();
    });
    EXPECT_TRUE(up && child->running()) << Log();
    return child;
  }

  testing::RunResult Ferry(std::vector<std::string> args) {
    args.insert(args.begin(), {BuiltProgram("ferry"), "--socket", socket_.string()});
    return testing::Run(args);
  }

  std::string Log() {
    auto text = fs::ReadFile(dir_ / "ferryd.log");
    return text ? *text : "(no log)";
  }

  testing::TempDir dir_;
  std::filesystem::path socket_, state_, config_;
};

TEST_F(FerrydTest, StatusRoundTripOnAFreshDevice) {
  auto ferryd = StartFerryd();
  auto r = Ferry({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ferryd 0.1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No apps installed."), std::string::npos) << r.out;

  auto j = Ferry({"status", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto status = nlohmann::json::parse(j.out);
  EXPECT_EQ(status["agent"]["version"], "0.1.0");
  EXPECT_EQ(status["agent"]["state_dir"], state_.string());
  EXPECT_EQ(status["agent"]["pid"], ferryd->pid());
  EXPECT_TRUE(status["apps"].is_array());
  EXPECT_TRUE(status["apps"].empty());
}

// ferryd answers while its start-up recovery still runs on the worker: status says when it is done,
// so that nobody takes a half-recovered state for the settled one.
TEST_F(FerrydTest, StatusSaysWhenStartUpRecoveryIsDone) {
  auto ferryd = StartFerryd();
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto j = Ferry({"status", "--json"});
        if (j.exit_code != 0) {
          return false;
        }
        const auto status = nlohmann::json::parse(j.out);
        return status["agent"].contains("recovering") && status["agent"]["recovering"] == false;
      },
      10s))
      << Ferry({"status", "--json"}).out;
}

TEST_F(FerrydTest, StatusShowsWhatTheDatabaseHolds) {
  {
    ASSERT_TRUE(fs::MakeDirs(state_, 0700));
    const SystemClock clock;
    auto store = store::OpenStateStore(state_ / "state.db", clock);
    ASSERT_TRUE(store) << store.error().message();
    ASSERT_TRUE((*store)->PutApp("thermostat"));
    for (auto [id, version] : {std::pair{"thermostat-1", "1.4.0"}, {"thermostat-2", "1.5.0"}}) {
      store::RevisionRecord rev;
      rev.id = id;
      rev.app = "thermostat";
      rev.version = version;
      rev.manifest_digest = "sha256:" + std::string(64, 'c');
      rev.state = store::RevisionState::kCommitted;
      ASSERT_TRUE((*store)->AddRevision(rev));
    }
    ASSERT_TRUE((*store)->SetAppRevisions("thermostat", "thermostat-2", "thermostat-1"));
  }
  auto ferryd = StartFerryd();
  auto r = Ferry({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("APP"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("thermostat  1.5.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.4.0 (thermostat-1)"), std::string::npos) << r.out;

  auto j = Ferry({"--json", "status"});
  ASSERT_EQ(j.exit_code, 0);
  auto status = nlohmann::json::parse(j.out);
  ASSERT_EQ(status["apps"].size(), 1u);
  EXPECT_EQ(status["apps"][0]["name"], "thermostat");
  EXPECT_EQ(status["apps"][0]["current"]["version"], "1.5.0");
  EXPECT_EQ(status["apps"][0]["current"]["state"], "committed");
  EXPECT_EQ(status["apps"][0]["previous"]["revision"], "thermostat-1");
}

TEST_F(FerrydTest, SocketIsOwnerOnly) {
  auto ferryd = StartFerryd();
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(state_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(FerrydTest, ExitsCleanlyOnSigtermWithinASecond) {
  for (int sig : {SIGTERM, SIGINT}) {
    auto ferryd = StartFerryd();
    const auto start = std::chrono::steady_clock::now();
    ferryd->Signal(sig);
    const int status = ferryd->Wait(5s);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(status, 0) << "signal " << sig << "\n" << Log();
    EXPECT_LT(took, 1s);
    EXPECT_FALSE(std::filesystem::exists(socket_)) << "socket left behind";
  }
}

TEST_F(FerrydTest, FerryWithoutFerrydSaysSoAndFails) {
  auto r = Ferry({"status"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("ferryd is not running"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(socket_.string()), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(FerrydTest, StaleSocketFromACrashIsReplaced) {
  {
    auto ferryd = StartFerryd();
    ferryd->Signal(SIGKILL);
    ferryd->Wait(5s);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_));
  auto ferryd = StartFerryd();
  EXPECT_EQ(Ferry({"status"}).exit_code, 0) << Log();
}

TEST_F(FerrydTest, SecondFerrydOnTheSameSocketIsRefused) {
  auto first = StartFerryd();
  // Its own state directory: only the socket is shared.
  const auto other_config = dir_ / "other.toml";
  ASSERT_TRUE(fs::WriteFileAtomic(other_config, "state_dir = \"" + (dir_ / "other").string() +
                                                    "\"\nsocket = \"" + socket_.string() + "\"\n"));
  auto r = testing::Run({BuiltProgram("ferryd"), "--config", other_config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("another ferryd is already serving"), std::string::npos) << r.err;
  EXPECT_EQ(Ferry({"status"}).exit_code, 0) << "the first ferryd must keep serving";
}

TEST_F(FerrydTest, SecondFerrydOnTheSameStateDirRefusesToStartNamingTheHolder) {
  auto first = StartFerryd();
  // Its own socket: only the state directory is shared.
  const auto other_config = dir_ / "other.toml";
  ASSERT_TRUE(fs::WriteFileAtomic(other_config, "state_dir = \"" + state_.string() +
                                                    "\"\nsocket = \"" +
                                                    (dir_ / "other.sock").string() + "\"\n"));
  auto r = testing::Run({BuiltProgram("ferryd"), "--config", other_config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("in use by another ferryd (pid " + std::to_string(first->pid()) + ")"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "other.sock"));
  EXPECT_EQ(Ferry({"status"}).exit_code, 0) << "the first ferryd must keep serving";
  // Once the first is gone (however it ended), the directory is free again.
  first->Signal(SIGKILL);
  first->Wait(5s);
  auto second = StartFerryd();
  EXPECT_EQ(Ferry({"status"}).exit_code, 0) << Log();
}

TEST_F(FerrydTest, ConfigErrorsNameTheKeyAndExitWithTwo) {
  ASSERT_TRUE(fs::WriteFileAtomic(config_, "state_dir = \"/tmp/x\"\npoll_intervall = 5\n"));
  auto r = testing::Run({BuiltProgram("ferryd"), "--config", config_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(config_.string() + ":2: unknown key 'poll_intervall'"), std::string::npos)
      << r.err;

  auto missing = testing::Run({BuiltProgram("ferryd"), "--config", (dir_ / "nope.toml").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.toml"), std::string::npos) << missing.err;
}

TEST_F(FerrydTest, UnopenableDatabaseIsAClearStartupError) {
  ASSERT_TRUE(fs::MakeDirs(state_, 0700));
  ASSERT_TRUE(fs::WriteFileAtomic(state_ / "state.db", std::string(4096, 'z')));
  auto r = testing::Run({BuiltProgram("ferryd"), "--config", config_.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("state database"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("state.db"), std::string::npos) << r.err;
}

// Speaks the wire protocol directly, as any client could.
class RawClient {
 public:
  explicit RawClient(const std::filesystem::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~RawClient() { ::close(fd_); }
  void Send(const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  // One reply line, or "" when the connection closed.
  std::string Line() {
    std::string line;
    char c = 0;
    while (::recv(fd_, &c, 1, 0) == 1) {
      if (c == '\n') {
        return line;
      }
      line.push_back(c);
    }
    return line;
  }

 private:
  int fd_;
};

TEST_F(FerrydTest, ProtocolErrorsAreAnsweredAndTheConnectionStaysUsable) {
  auto ferryd = StartFerryd();
  RawClient c(socket_);
  c.Send("this is not json\n");
  auto r1 = nlohmann::json::parse(c.Line());
  EXPECT_EQ(r1["ok"], false);
  EXPECT_EQ(r1["error"]["code"], "invalid_argument");

  c.Send("{\"id\":7,\"method\":\"reboot-everything\"}\n");
  auto r2 = nlohmann::json::parse(c.Line());
  EXPECT_EQ(r2["id"], 7);
  EXPECT_EQ(r2["error"]["code"], "unknown_method");
  EXPECT_EQ(r2["error"]["message"], "unknown method 'reboot-everything'");

  c.Send("{\"id\":8,\"method\":\"status\",\"params\":[1]}\n");
  EXPECT_EQ(nlohmann::json::parse(c.Line())["error"]["code"], "invalid_argument");

  c.Send("{\"id\":9,\"method\":\"status\"}\n{\"id\":10,\"method\":\"ping\"}\n");
  auto r3 = nlohmann::json::parse(c.Line());
  auto r4 = nlohmann::json::parse(c.Line());
  EXPECT_EQ(r3["id"], 9);
  EXPECT_EQ(r3["ok"], true);
  EXPECT_EQ(r4["id"], 10);
  EXPECT_EQ(r4["result"]["version"], "0.1.0");
}

TEST_F(FerrydTest, OverlongRequestIsRefusedAndFerrydKeepsServing) {
  auto ferryd = StartFerryd();
  {
    RawClient c(socket_);
    c.Send(std::string(control::kMaxLineBytes + 10, 'x'));
    auto reply = nlohmann::json::parse(c.Line());
    EXPECT_EQ(reply["error"]["code"], "invalid_argument");
    EXPECT_EQ(c.Line(), "") << "connection should be closed";
  }
  EXPECT_EQ(Ferry({"status"}).exit_code, 0);
}

TEST_F(FerrydTest, DeeplyNestedRequestIsInvalidArgumentAndFerrydKeepsServing) {
  auto ferryd = StartFerryd();
  RawClient c(socket_);
  // 100,000 levels in 200 KB: under the line limit, far past any parser's stack.
  c.Send("{\"id\":1,\"method\":\"status\",\"params\":" + std::string(100'000, '[') +
         std::string(100'000, ']') + "}\n");
  const std::string line = c.Line();
  ASSERT_FALSE(line.empty()) << Log();
  auto reply = nlohmann::json::parse(line);
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"]["code"], "invalid_argument");
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("nested deeper than"),
            std::string::npos)
      << line;
  // The same connection and new ones go on.
  c.Send("{\"id\":2,\"method\":\"ping\"}\n");
  EXPECT_EQ(nlohmann::json::parse(c.Line())["result"]["version"], "0.1.0");
  EXPECT_TRUE(ferryd->running());
  EXPECT_EQ(Ferry({"status"}).exit_code, 0);
}

TEST_F(FerrydTest, InstallRefusesAnythingButARegularFileAtOnce) {
  auto ferryd = StartFerryd();
  const auto fifo = dir_ / "bundle.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto link = dir_ / "shadow.bundle";
  std::filesystem::create_symlink("/etc/shadow", link);
  struct Case {
    std::string path;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{{"/dev/zero", "a character device"},
                                         {fifo.string(), "a FIFO"},
                                         {link.string(), "is a symlink"},
                                         {"/proc/self/fd/0", "is a symlink"},
                                         {dir_.path().string(), "a directory"}}) {
    const auto start = std::chrono::steady_clock::now();
    // A short deadline: a refusal comes at once, it never waits on the file.
    auto r = control::Call(socket_, "install", {{"bundle", c.path}}, 5s);
    ASSERT_FALSE(r.has_value()) << c.path;
    EXPECT_TRUE(r.error().Is(Errc::kInvalidArgument)) << c.path << ": " << r.error().message();
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << c.path;
  }
  // Nothing is wedged: the worker still takes work, and the daemon still answers.
  auto revert = control::Call(socket_, "revert", {{"app", "web"}}, 10s);
  ASSERT_FALSE(revert.has_value());
  EXPECT_FALSE(revert.error().Is(Errc::kTimeout)) << revert.error().message();
  EXPECT_EQ(Ferry({"status"}).exit_code, 0);
  const auto start = std::chrono::steady_clock::now();
  ferryd->Signal(SIGTERM);
  EXPECT_EQ(ferryd->Wait(5s), 0) << Log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

// Runs `fn` in a child process as user nobody (uid and gid 65534, no supplementary groups) and
// returns its exit status. The test process stays root.
int AsNobody(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const gid_t nogroup = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(nogroup, nogroup, nogroup) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(100);
    }
    ::_exit(fn());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// 0 when `method` fails with permission_denied, 1 when it is answered, 2 on another error.
int Outcome(const std::filesystem::path& socket, const std::string& method,
            const control::Json& params = control::Json::object()) {
  auto r = control::Call(socket, method, params, 5s);
  if (r) {
    return 1;
  }
  return r.error().Is(Errc::kPermissionDenied) ? 0 : 2;
}

TEST_F(FerrydTest, AWorldWritableSocketStillServesNobodyButRoot) {
  auto ferryd = StartFerryd();
  // What an operator's mistake could do: everyone may connect now.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(socket_.parent_path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "status"); }), 0) << Log();
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "revert", {{"app", "web"}}); }), 0);
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "install", {{"bundle", "/etc/shadow"}}); }), 0);
  EXPECT_EQ(AsNobody([&] {
              auto r = control::Call(socket_, "status", control::Json::object(), 5s);
              return !r && r.error().message().find("uid 65534") != std::string::npos ? 0 : 1;
            }),
            0)
      << "the refusal names the caller";
  EXPECT_NE(Log().find("refusing uid 65534"), std::string::npos) << Log();
  EXPECT_EQ(Ferry({"status"}).exit_code, 0) << "root is still served";
}

TEST_F(FerrydTest, TheControlGroupMayReadButNotAct) {
  ASSERT_TRUE(fs::WriteFileAtomic(config_, "state_dir = \"" + state_.string() + "\"\nsocket = \"" +
                                               socket_.string() +
                                               "\"\ncontrol_group = \"65534\"\n"));
  auto ferryd = StartFerryd();
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, 65534u);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(socket_.parent_path().c_str(), 0755), 0);
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "status"); }), 1) << Log();
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "ping"); }), 1);
  EXPECT_EQ(AsNobody([&] {
              return Outcome(socket_, "history", {{"app", "web"}});
            }),
            2)
      << "answered (not_found), not refused";
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "revert", {{"app", "web"}}); }), 0);
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "install", {{"bundle", "/etc/shadow"}}); }), 0);
  EXPECT_EQ(AsNobody([&] { return Outcome(socket_, "check"); }), 0);
  EXPECT_EQ(AsNobody([&] {
              return Outcome(socket_, "retry", {{"app", "web"}, {"version", "2.0.0"}});
            }),
            0)
      << "lifting a bad mark is for root and ferryd's user, like install";
}

TEST_F(FerrydTest, AnUnknownControlGroupStopsTheStart) {
  ASSERT_TRUE(fs::WriteFileAtomic(config_, "state_dir = \"" + state_.string() + "\"\nsocket = \"" +
                                               socket_.string() +
                                               "\"\ncontrol_group = \"no-such-group-here\"\n"));
  auto r = testing::Run({BuiltProgram("ferryd"), "--config", config_.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("control_group 'no-such-group-here'"), std::string::npos) << r.err;
}

TEST_F(FerrydTest, ListsCrashpointsAndVersion) {
  auto r = testing::Run({BuiltProgram("ferryd"), "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("ferryd 0.1.0"), std::string::npos);
  EXPECT_EQ(testing::Run({BuiltProgram("ferryd"), "--list-crashpoints"}).exit_code, 0);
  EXPECT_EQ(testing::Run({BuiltProgram("ferryd"), "--no-such-flag"}).exit_code, 2);
}

TEST_F(FerrydTest, FerryUsageErrorsExitWithTwo) {
  EXPECT_EQ(testing::Run({BuiltProgram("ferry")}).exit_code, 2);
  EXPECT_EQ(testing::Run({BuiltProgram("ferry"), "frobnicate"}).exit_code, 2);
}

}  // namespace
}  // namespace ferry
