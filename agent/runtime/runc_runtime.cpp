#include "ferry/runtime/runc_runtime.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ferry/core/crashpoint.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/core/memory.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layout/layout.hpp"
#include "log_rotation.hpp"
#include "spawn.hpp"

namespace ferry::runtime {
namespace {

// Around every runc call that changes a container: ferryd may die with runc half done or done and
// not yet recorded.
FERRY_DEFINE_CRASHPOINT(kCreateBefore, "runtime.create.before");
FERRY_DEFINE_CRASHPOINT(kCreateAfter, "runtime.create.after");
FERRY_DEFINE_CRASHPOINT(kStartBefore, "runtime.start.before");
FERRY_DEFINE_CRASHPOINT(kStartAfter, "runtime.start.after");
FERRY_DEFINE_CRASHPOINT(kKillBefore, "runtime.kill.before");
FERRY_DEFINE_CRASHPOINT(kKillAfter, "runtime.kill.after");
FERRY_DEFINE_CRASHPOINT(kDeleteBefore, "runtime.delete.before");
FERRY_DEFINE_CRASHPOINT(kDeleteAfter, "runtime.delete.after");

namespace stdfs = std::filesystem;

constexpr std::size_t kExecOutputMax = 4096;
constexpr std::chrono::milliseconds kKillWait{5000};

// runc prints logrus lines (time=… level=error msg="…"); people want the msg parts.
std::string RuncMessage(const std::string& text) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = text.find("msg=\"", pos)) != std::string::npos) {
    pos += 5;
    std::string msg;
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\' && pos + 1 < text.size()) {
        ++pos;
      }
      msg += text[pos++];
    }
    if (!out.empty()) {
      out += "; ";
    }
    out += msg;
  }
  if (out.empty()) {
    out = text;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
      out.pop_back();
    }
  }
  return out.empty() ? "no error output" : out;
}

// Messages of the JSON log written by `runc --log F --log-format json`.
std::string RuncJsonLogErrors(const stdfs::path& log) {
  auto text = fs::ReadFile(log, 1u << 20);
  if (!text) {
    return {};
  }
  std::string out;
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) {
      end = text->size();
    }
    const auto line = nlohmann::json::parse(text->begin() + static_cast<std::ptrdiff_t>(start),
                                            text->begin() + static_cast<std::ptrdiff_t>(end),
                                            nullptr, /*allow_exceptions=*/false);
    if (line.is_object() && line.value("level", "") != "debug" &&
        line.value("level", "") != "info" && line.contains("msg") && line["msg"].is_string()) {
      if (!out.empty()) {
        out += "; ";
      }
      out += line["msg"].get<std::string>();
    }
    start = end + 1;
  }
  return out;
}

bool MentionsMissing(const std::string& message) {
  return message.find("does not exist") != std::string::npos ||
         message.find("not found") != std::string::npos;
}

// Waits up to `timeout` for the process of `pidfd` to exit (a zombie counts as exited), or until
// `cancel` (when given and it has its eventfd) is cancelled.
bool WaitForPidfd(int pidfd, std::chrono::milliseconds timeout, const CancelToken* cancel) {
  const int cancel_fd = cancel != nullptr ? cancel->wait_fd() : -1;
  pollfd p[2] = {{pidfd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
  int rc = 0;
  do {
    rc = ::poll(p, cancel_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0 && p[0].revents != 0;
}

// The same for process `pid`.
bool WaitForExit(pid_t pid, std::chrono::milliseconds timeout,
                 const CancelToken* cancel = nullptr) {
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    return errno == ESRCH;
  }
  return WaitForPidfd(pidfd.get(), timeout, cancel);
}

// Sends `signal` to the process of `pidfd`; false when it has already exited.
Result<bool> SignalPidfd(int pidfd, int signal, const std::string& id) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) == 0) {
    return true;
  }
  if (errno == ESRCH) {
    return false;
  }
  return Fail(ErrnoError("signalling the process of " + id));
}

Result<ContainerStatus> ParseStatus(const std::string& s) {
  if (s == "creating") {
    return ContainerStatus::kCreating;
  }
  if (s == "created") {
    return ContainerStatus::kCreated;
  }
  if (s == "running") {
    return ContainerStatus::kRunning;
  }
  if (s == "paused") {
    return ContainerStatus::kPaused;
  }
  if (s == "stopped") {
    return ContainerStatus::kStopped;
  }
  return Fail(RuntimeErrc::kRuntimeFailed, "unknown container status \"" + s + "\"");
}

// Swap accounting per cgroup: memory.memsw.* on cgroup v1, memory.swap.max in non-root cgroups on
// v2. Kernels built or booted without it (swapaccount=0) have neither file.
bool SwapLimitSupported() {
  std::error_code ec;
  if (stdfs::exists("/sys/fs/cgroup/cgroup.controllers", ec)) {
    for (const auto& entry : stdfs::directory_iterator("/sys/fs/cgroup", ec)) {
      if (entry.is_directory(ec) && stdfs::exists(entry.path() / "memory.swap.max", ec)) {
        return true;
      }
    }
    return false;
  }
  return stdfs::exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", ec);
}

// Ids are passed to runc as arguments: one starting with '-' would be read as an option.
Status CheckId(const std::string& id) {
  const bool ok =
      !id.empty() && id.size() <= 128 && std::isalnum(static_cast<unsigned char>(id[0])) &&
      std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
      });
  if (!ok) {
    return Fail(RuntimeErrc::kInvalidSpec,
                "container id \"" + id.substr(0, 64) + "\" is not [A-Za-z0-9][A-Za-z0-9_.-]*");
  }
  return Ok();
}

}  // namespace

const char* StatusName(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::kCreating:
      return "creating";
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kPaused:
      return "paused";
    case ContainerStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

RuncRuntime::RuncRuntime(RuncConfig config) : config_(std::move(config)) {
  // The container's first process is orphaned when `runc create` exits; as a subreaper we
  // inherit it and can read its exit status.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    log::warn("runtime: cannot become child subreaper ({}); exit codes will be unknown",
              std::strerror(errno));
  }
  swap_limit_ = SwapLimitSupported();
  if (!swap_limit_) {
    log::warn(
        "runtime: this kernel does not account swap per cgroup; memory limits will not "
        "cap swap use");
  }
  if (config_.log_check_interval.count() > 0) {
    log_watch_ = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    log_stop_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!log_watch_.valid() || !log_stop_.valid()) {
      log::warn("runtime: cannot watch container logs ({}); checking them every {} ms",
                std::strerror(errno), config_.log_check_interval.count());
      log_watch_.Reset();
    }
    log_thread_ = std::thread([this] { LogLoop(); });
  }
}

RuncRuntime::~RuncRuntime() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (log_stop_.valid()) {
    const std::uint64_t one = 1;
    (void)!::write(log_stop_.get(), &one, sizeof one);
  }
  if (log_thread_.joinable()) {
    log_thread_.join();
  }
}

std::vector<std::string> RuncRuntime::Command(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv = {config_.binary.string(), "--root", config_.root.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<std::string> RuncRuntime::RunRuntime(std::vector<std::string> argv, const std::string& id,
                                            int stdio_fd) {
  SpawnOptions options;
  options.stdio_fd = stdio_fd;
  options.timeout = config_.command_timeout;
  options.cancel = config_.cancel;
  auto r = SpawnAndWait(argv, options);
  if (!r) {
    return Fail(r.error());
  }
  // Name the call by its subcommand and id: "runc kill web-r2: container not running".
  std::string what = stdfs::path(argv[0]).filename().string();
  static constexpr std::string_view kSubcommands[] = {"create", "start",  "state",
                                                      "kill",   "delete", "exec"};
  const auto sub = std::find_if(argv.begin() + 1, argv.end(), [](const std::string& a) {
    return std::find(std::begin(kSubcommands), std::end(kSubcommands), a) != std::end(kSubcommands);
  });
  if (sub != argv.end()) {
    what += " " + *sub;
  }
  what += " " + id;
  if (r->cancelled) {
    return Fail(Errc::kCancelled, what + ": ferryd is stopping");
  }
  if (r->timed_out) {
    return Fail(RuntimeErrc::kTimeout, what + ": no answer within " +
                                           std::to_string(config_.command_timeout.count()) + " ms");
  }
  if (r->exit_code != 0) {
    const std::string msg = RuncMessage(r->err);
    return Fail(MentionsMissing(msg) ? RuntimeErrc::kNoSuchContainer : RuntimeErrc::kRuntimeFailed,
                what + ": " + msg);
  }
  return std::move(r->out);
}

Status RuncRuntime::Create(const std::string& id, const ContainerSpec& spec,
                           const stdfs::path& bundle_dir) {
  FERRY_TRY_STATUS(CheckId(id), "create");
  HostPaths host;
  host.volumes_dir = layout::Layout(config_.state_dir).volumes(spec.app);
  host.cgroups_parent = config_.cgroups_parent;
  std::error_code ec;
  host.cgroup_namespace = stdfs::exists("/proc/self/ns/cgroup", ec);
  host.swap_limit = swap_limit_;
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_max != RLIM_INFINITY) {
    host.max_open_files = std::min<std::uint64_t>(host.max_open_files, nofile.rlim_max);
  }
  auto config = BuildOciConfig(spec, host);
  if (!config) {
    return Fail(config.error());
  }
  for (const auto& v : spec.volumes) {
    const stdfs::path dir = host.volumes_dir / v.name;
    if (!stdfs::exists(dir, ec)) {
      FERRY_TRY_STATUS(fs::MakeDirs(dir, 0750), "volume " + v.name);
      // The app's user owns its fresh volume, so a non-root app can write its data.
      if (::chown(dir.c_str(), spec.uid, spec.gid) != 0) {
        return Fail(ErrnoError("chown " + dir.string()));
      }
    }
  }
  FERRY_TRY_STATUS(fs::MakeDirs(bundle_dir), "bundle");
  FERRY_TRY_STATUS(
      fs::WriteFileAtomic(layout::RevisionBundleConfig(bundle_dir), config->dump(2), 0600),
      "writing config.json");

  // runc writes the pid file through an O_EXCL temp file named ".<name>" next to it: a power cut
  // in between leaves that name behind and fails every later create. So both names live in the
  // runtime's state dir (tmpfs on devices, emptied by a reboot) and are removed by name first;
  // the names older versions left in the persistent bundle dir go too.
  FERRY_TRY_STATUS(fs::MakeDirs(config_.root, 0700), "runtime state dir");
  const stdfs::path pid_file = config_.root / (id + ".pid");
  const stdfs::path runc_log = layout::RevisionRuntimeLog(bundle_dir);
  for (const auto& stale :
       {pid_file, config_.root / ("." + id + ".pid"), bundle_dir / "container.pid",
        bundle_dir / ".container.pid", runc_log}) {
    if (!stdfs::remove(stale, ec) && ec && ec != std::errc::no_such_file_or_directory) {
      return Fail(SystemError("remove " + stale.string(), ec));
    }
  }
  const stdfs::path log_path =
      layout::AppLogPath(layout::AppLogsDir(config_.log_dir, spec.app), spec.revision);
  FERRY_TRY_STATUS(fs::MakeDirs(log_path.parent_path(), 0750), "log dir");
  WatchLogs(log_path.parent_path());
  const int log_fd =
      ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (log_fd < 0) {
    return Fail(ErrnoError("open " + log_path.string()));
  }
  // The container inherits stdout and stderr from `runc create`, so runc's own messages go to a
  // separate JSON log that we read back on failure.
  Crashpoint(kCreateBefore);
  auto created = RunRuntime({config_.binary.string(), "--root", config_.root.string(), "--log",
                             runc_log.string(), "--log-format", "json", "create", "--bundle",
                             bundle_dir.string(), "--pid-file", pid_file.string(), id},
                            id, log_fd);
  ::close(log_fd);
  Crashpoint(kCreateAfter);
  if (!created) {
    const std::string details = RuncJsonLogErrors(runc_log);
    if (!details.empty()) {
      return Fail(RuntimeErrc::kRuntimeFailed, "runc create " + id + ": " + details);
    }
    return Fail(created.error());
  }
  auto pid_text = fs::ReadFile(pid_file, 64);
  stdfs::remove(pid_file, ec);
  Tracked t;
  t.log_path = log_path;
  if (pid_text) {
    t.pid = std::atoi(pid_text->c_str());
  }
  std::lock_guard lock(mu_);
  tracked_[id] = std::move(t);
  return Ok();
}

Status RuncRuntime::Start(const std::string& id) {
  FERRY_TRY_STATUS(CheckId(id), "start");
  Crashpoint(kStartBefore);
  auto r = RunRuntime(Command({"start", id}), id);
  Crashpoint(kStartAfter);
  if (!r) {
    return Fail(r.error());
  }
  return Ok();
}

void RuncRuntime::ReapOrphansLocked() {
  std::vector<pid_t> inits;
  for (const auto& [id, t] : tracked_) {
    if (t.pid > 0 && !t.exit_code) {
      inits.push_back(t.pid);
    }
  }
  ReapOrphanedChildren(inits);
}

void RuncRuntime::ReapLocked(Tracked& t) {
  if (t.pid <= 0 || t.exit_code) {
    return;
  }
  int status = 0;
  const pid_t w = ::waitpid(t.pid, &status, WNOHANG);
  if (w == t.pid) {
    t.exit_code = DecodeWaitStatus(status);
  } else if (w < 0 && errno == ECHILD) {
    t.pid = 0;  // not our child (ferryd restarted): its status cannot be known
  }
}

Result<ContainerState> RuncRuntime::State(const std::string& id) {
  FERRY_TRY_STATUS(CheckId(id), "state");
  std::filesystem::path log_path;
  {
    std::lock_guard lock(mu_);
    ReapOrphansLocked();
    if (auto it = tracked_.find(id); it != tracked_.end()) {
      ReapLocked(it->second);
      log_path = it->second.log_path;
    }
  }
  if (!log_path.empty()) {
    std::lock_guard log_lock(log_mu_);
    if (auto rotated = RotateLogIfLarge(log_path, config_.log_max_bytes); !rotated) {
      log::warn("runtime: {}", rotated.error().String());
    }
  }
  auto out = RunRuntime(Command({"state", id}), id);
  if (!out) {
    return Fail(out.error());
  }
  const auto json = nlohmann::json::parse(*out, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("status") || !json["status"].is_string()) {
    return Fail(RuntimeErrc::kRuntimeFailed, "runc state " + id + ": unreadable answer");
  }
  auto status = ParseStatus(json["status"].get<std::string>());
  if (!status) {
    return Fail(status.error());
  }
  ContainerState state;
  state.status = *status;
  if (json.contains("pid") && json["pid"].is_number_integer()) {
    state.pid = json["pid"].get<int>();
  }
  std::lock_guard lock(mu_);
  if (auto it = tracked_.find(id); it != tracked_.end()) {
    if (state.status == ContainerStatus::kStopped) {
      // runc may see the exit before our reap above did: reap again so the status is known.
      if (!it->second.exit_code && it->second.pid > 0) {
        WaitForExit(it->second.pid, std::chrono::milliseconds(100));
      }
      ReapLocked(it->second);
      state.exit_code = it->second.exit_code;
    } else if (it->second.exit_code) {
      state.status = ContainerStatus::kStopped;
      state.exit_code = it->second.exit_code;
    }
  }
  return state;
}

Status RuncRuntime::Kill(const std::string& id, int signal) {
  FERRY_TRY_STATUS(CheckId(id), "kill");
  Crashpoint(kKillBefore);
  auto r = RunRuntime(Command({"kill", id, std::to_string(signal)}), id);
  Crashpoint(kKillAfter);
  if (!r && r.error().message().find("not running") != std::string::npos) {
    return Ok();
  }
  if (!r) {
    return Fail(r.error());
  }
  return Ok();
}

Status RuncRuntime::Delete(const std::string& id) {
  FERRY_TRY_STATUS(CheckId(id), "delete");
  pid_t child = 0;
  {
    std::lock_guard lock(mu_);
    ReapOrphansLocked();
    if (auto it = tracked_.find(id); it != tracked_.end()) {
      ReapLocked(it->second);
      child = it->second.exit_code ? 0 : it->second.pid;
    }
  }
  if (child > 0) {
    // `runc delete --force` waits for the killed process to vanish, but our unreaped child stays
    // a zombie: kill and reap it first.
    if (auto killed = Kill(id, SIGKILL);
        !killed && !killed.error().Is(RuntimeErrc::kNoSuchContainer)) {
      return Fail(killed.error().WithContext("deleting " + id));
    }
    WaitForExit(child, kKillWait);
  }
  Crashpoint(kDeleteBefore);
  auto r = RunRuntime(Command({"delete", "--force", id}), id);
  Crashpoint(kDeleteAfter);
  std::lock_guard lock(mu_);
  if (auto it = tracked_.find(id); it != tracked_.end()) {
    ReapLocked(it->second);
    tracked_.erase(it);
  }
  if (!r && !r.error().Is(RuntimeErrc::kNoSuchContainer)) {
    return Fail(r.error());
  }
  return Ok();
}

Status RuncRuntime::Stop(const std::string& id, std::chrono::milliseconds grace) {
  if (auto st = StopProcess(id, grace); !st) {
    return st;
  }
  FERRY_TRY_STATUS(Delete(id), "stopping " + id);
  return Ok();
}

int RuncRuntime::OpenTrackedPidfd(const std::string& id, bool& exited) {
  exited = false;
  std::lock_guard lock(mu_);
  auto it = tracked_.find(id);
  if (it == tracked_.end() || it->second.pid <= 0) {
    return -1;
  }
  ReapLocked(it->second);
  if (it->second.exit_code) {
    exited = true;
    return -1;
  }
  if (it->second.pid <= 0) {
    return -1;
  }
  // Opened under the lock that every reap of this pid takes, and while it is our unreaped child:
  // it cannot be another process that got the number again.
  return static_cast<int>(::syscall(SYS_pidfd_open, it->second.pid, 0));
}

Status RuncRuntime::StopTracked(const std::string& id, int pidfd, std::chrono::milliseconds grace) {
  // What `runc kill` does (a signal to the container's first process), without its process start
  // on the way of a switch or a rollback.
  Crashpoint(kKillBefore);
  auto signalled = SignalPidfd(pidfd, SIGTERM, id);
  Crashpoint(kKillAfter);
  if (!signalled) {
    return Fail(signalled.error().WithContext("stopping " + id));
  }
  if (!*signalled || WaitForPidfd(pidfd, grace, config_.cancel)) {
    return Ok();
  }
  if (config_.cancel != nullptr && config_.cancel->cancelled()) {
    // ferryd is stopping: the container has its SIGTERM; the next start finishes the job.
    return Fail(Errc::kCancelled, "stopping " + id + ": ferryd is stopping");
  }
  log::info("runtime: {} ignored SIGTERM for {} ms, sending SIGKILL", id, grace.count());
  Crashpoint(kKillBefore);
  signalled = SignalPidfd(pidfd, SIGKILL, id);
  Crashpoint(kKillAfter);
  if (!signalled) {
    return Fail(signalled.error().WithContext("stopping " + id));
  }
  if (*signalled && !WaitForPidfd(pidfd, kKillWait, nullptr)) {
    return Fail(RuntimeErrc::kTimeout, "stopping " + id + ": still running after SIGKILL");
  }
  return Ok();
}

Status RuncRuntime::StopProcess(const std::string& id, std::chrono::milliseconds grace) {
  FERRY_TRY_STATUS(CheckId(id), "stop");
  bool exited = false;
  const UniqueFd pidfd(OpenTrackedPidfd(id, exited));
  if (exited) {
    return Ok();
  }
  if (pidfd.valid()) {
    return StopTracked(id, pidfd.get(), grace);
  }
  // Not created by this ferryd (it restarted since): runc knows the process.
  auto state = State(id);
  if (!state && state.error().Is(RuntimeErrc::kNoSuchContainer)) {
    return Ok();
  }
  if (!state) {
    return Fail(state.error().WithContext("stopping " + id));
  }
  if (state->status != ContainerStatus::kStopped && state->pid > 0) {
    FERRY_TRY_STATUS(Kill(id, SIGTERM), "stopping " + id);
    if (!WaitForExit(state->pid, grace, config_.cancel)) {
      if (config_.cancel != nullptr && config_.cancel->cancelled()) {
        // ferryd is stopping: the container has its SIGTERM; the next start finishes the job.
        return Fail(Errc::kCancelled, "stopping " + id + ": ferryd is stopping");
      }
      log::info("runtime: {} ignored SIGTERM for {} ms, sending SIGKILL", id, grace.count());
      FERRY_TRY_STATUS(Kill(id, SIGKILL), "stopping " + id);
      if (!WaitForExit(state->pid, kKillWait)) {
        return Fail(RuntimeErrc::kTimeout, "stopping " + id + ": still running after SIGKILL");
      }
    }
  }
  return Ok();
}

Result<ExecResult> RuncRuntime::Exec(const std::string& id, const std::vector<std::string>& argv,
                                     std::chrono::milliseconds timeout) {
  FERRY_TRY_STATUS(CheckId(id), "exec");
  if (argv.empty() || argv[0].empty()) {
    return Fail(RuntimeErrc::kInvalidSpec, "exec in " + id + ": empty command");
  }
  auto state = State(id);
  if (!state) {
    return Fail(state.error().WithContext("exec in " + id));
  }
  if (state->status != ContainerStatus::kRunning) {
    return Fail(RuntimeErrc::kRuntimeFailed,
                "exec in " + id + ": container is " + StatusName(state->status));
  }
  static std::atomic<unsigned> counter{0};
  const stdfs::path pid_file = config_.root / ("exec-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(++counter) + ".pid");
  std::vector<std::string> cmd = Command({"exec", "--pid-file", pid_file.string(), id});
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  SpawnOptions options;
  options.max_output = kExecOutputMax;
  options.timeout = timeout;
  // runc cannot forward SIGKILL: kill the command inside the container by its own pid.
  // Let runc exec reap the killed command itself: if runc died first, the command would be
  // orphaned to us.
  options.timeout_grace = std::chrono::milliseconds(3000);
  const auto kill_command = [&pid_file] {
    if (auto text = fs::ReadFile(pid_file, 64)) {
      if (const int pid = std::atoi(text->c_str()); pid > 0) {
        ::kill(pid, SIGKILL);
      }
    }
  };
  options.on_timeout = kill_command;
  // On a stop the same, with less time: ferryd is gone within a second, and takes no command
  // (a health probe's `sleep 30`) with it or leaves it behind.
  options.cancel = config_.cancel;
  options.on_cancel = kill_command;
  options.cancel_grace = std::chrono::milliseconds(200);
  auto r = SpawnAndWait(cmd, options);
  std::error_code ec;
  stdfs::remove(pid_file, ec);
  if (!r) {
    return Fail(r.error().WithContext("exec in " + id));
  }
  if (r->cancelled) {
    return Fail(Errc::kCancelled, "exec in " + id + ": ferryd is stopping");
  }
  ExecResult result;
  result.exit_code = r->exit_code;
  result.timed_out = r->timed_out;
  result.output = r->out + r->err;
  if (result.output.size() > kExecOutputMax) {
    result.output.resize(kExecOutputMax);
  }
  return result;
}

Status RuncRuntime::RotateLogs() {
  std::lock_guard log_lock(log_mu_);
  std::error_code ec;
  if (!stdfs::is_directory(config_.log_dir, ec)) {
    return Ok();
  }
  // Every app's logs, including those of containers started before ferryd last restarted.
  for (const auto& app : stdfs::directory_iterator(config_.log_dir, ec)) {
    std::error_code app_ec;
    for (const auto& file : stdfs::directory_iterator(app.path(), app_ec)) {
      if (file.path().extension() == layout::kAppLogExtension) {
        if (auto r = RotateLogIfLarge(file.path(), config_.log_max_bytes); !r) {
          return Fail(r.error());
        }
      }
    }
  }
  return Ok();
}

stdfs::path RuncRuntime::LogPath(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = tracked_.find(id);
  return it == tracked_.end() ? stdfs::path() : it->second.log_path;
}

void RuncRuntime::WatchLogs(const stdfs::path& app_log_dir) {
  // One-shot: the first write wakes the log thread, later ones cost nothing until it re-arms.
  if (log_watch_.valid()) {
    (void)::inotify_add_watch(log_watch_.get(), app_log_dir.c_str(), IN_MODIFY | IN_ONESHOT);
  }
}

void RuncRuntime::WatchAllLogs() {
  std::error_code ec;
  // Every app's logs, including those of containers started before ferryd last restarted.
  for (const auto& app : stdfs::directory_iterator(config_.log_dir, ec)) {
    if (app.is_directory(ec)) {
      WatchLogs(app.path());
    }
  }
}

bool RuncRuntime::WaitForLogWrite() {
  std::array<pollfd, 2> fds{{{log_stop_.get(), POLLIN, 0}, {log_watch_.get(), POLLIN, 0}}};
  const int timeout =
      log_watch_.valid() ? -1 : static_cast<int>(config_.log_check_interval.count());
  for (;;) {
    const int n = ::poll(fds.data(), log_watch_.valid() ? 2 : 1, timeout);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      return false;
    }
    break;
  }
  if (log_watch_.valid()) {
    alignas(inotify_event) std::array<char, 4096> events;
    while (::read(log_watch_.get(), events.data(), events.size()) > 0) {
    }
  }
  std::lock_guard lock(mu_);
  return !stopping_;
}

void RuncRuntime::LogLoop() {
  // Nothing here runs on a timer while the apps are quiet: the thread sleeps in WaitForLogWrite
  // until one writes. Arming before the check means that what is written during the check and
  // the pause after it (and the check's own rotation, once) wakes the thread again: nothing
  // written is left unchecked.
  for (;;) {
    WatchAllLogs();
    {
      std::lock_guard lock(mu_);
      ReapOrphansLocked();
    }
    if (auto r = RotateLogs(); !r) {
      log::warn("runtime: log rotation: {}", r.error().String());
    }
    {
      std::unique_lock lock(mu_);
      if (stop_cv_.wait_for(lock, config_.log_check_interval, [this] { return stopping_; })) {
        return;
      }
    }
    ReleaseUnusedStack();
    if (!WaitForLogWrite()) {
      return;
    }
  }
}

}  // namespace ferry::runtime
