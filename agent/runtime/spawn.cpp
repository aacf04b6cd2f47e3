#include "spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "ferry/core/unique_fd.hpp"
#include "ferry/runtime/errors.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace ferry::runtime {
namespace {

// The children SpawnAndWait waits for. A pid enters under the lock in the same critical section
// as its posix_spawn, so ReapOrphanedChildren never mistakes one for an orphan.
std::mutex g_spawned_mu;
std::set<pid_t> g_spawned;

class FileActions {
 public:
  FileActions() { ::posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { ::posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

// Reads what is available without blocking; false at end of file.
bool Drain(int fd, std::string& into, std::size_t max) {
  std::array<char, 8192> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      const std::size_t room = max > into.size() ? max - into.size() : 0;
      into.append(buf.data(), std::min(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

}  // namespace

void ReapOrphanedChildren(const std::vector<pid_t>& keep) {
  std::lock_guard lock(g_spawned_mu);
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream children(task.path() / "children");
    pid_t child = 0;
    while (children >> child) {
      if (g_spawned.contains(child) || std::find(keep.begin(), keep.end(), child) != keep.end()) {
        continue;
      }
      int status = 0;
      ::waitpid(child, &status, WNOHANG);  // a running orphan is left alone
    }
  }
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

Result<SpawnResult> SpawnAndWait(const std::vector<std::string>& argv,
                                 const SpawnOptions& options) {
  if (argv.empty()) {
    return Fail(RuntimeErrc::kSpawnFailed, "empty command");
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);

  // Pipes are close-on-exec so that programs spawned by other threads never hold them open.
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  const bool capture = options.stdio_fd < 0;
  if (capture && (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
                  ::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0)) {
    const int saved = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    return Fail(ErrnoError("pipe", saved));
  }
  UniqueFd out_r(out_pipe[0]);
  UniqueFd out_w(out_pipe[1]);
  UniqueFd err_r(err_pipe[0]);
  UniqueFd err_w(err_pipe[1]);

  FileActions actions;
  ::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  const int child_out = capture ? out_w.get() : options.stdio_fd;
  const int child_err = capture ? err_w.get() : options.stdio_fd;
  ::posix_spawn_file_actions_adddup2(actions.get(), child_out, 1);
  ::posix_spawn_file_actions_adddup2(actions.get(), child_err, 2);

  pid_t pid = -1;
  int rc = 0;
  {
    std::lock_guard lock(g_spawned_mu);
    rc = ::posix_spawn(&pid, args[0], actions.get(), nullptr, args.data(), environ);
    if (rc == 0) {
      g_spawned.insert(pid);
    }
  }
  if (rc != 0) {
    return Fail(RuntimeErrc::kSpawnFailed,
                "starting " + argv[0] + ": " + std::string(std::strerror(rc)));
  }
  out_w.Reset();
  err_w.Reset();

  const int raw_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  UniqueFd pidfd(raw_pidfd);
  struct Unregister {
    pid_t pid;
    ~Unregister() {
      std::lock_guard lock(g_spawned_mu);
      g_spawned.erase(pid);
    }
  } unregister{pid};
  SpawnResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool out_open = capture;
  bool err_open = capture;
  int status = 0;
  bool reaped = false;
  bool sent_kill = false;
  auto killed_at = deadline;
  const int cancel_fd = options.cancel != nullptr ? options.cancel->wait_fd() : -1;
  while (!reaped) {
    const auto now = std::chrono::steady_clock::now();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (options.cancel != nullptr && options.cancel->cancelled() && !result.cancelled &&
        !sent_kill) {
      result.cancelled = true;
      if (options.on_cancel) {
        options.on_cancel();
      }
      killed_at = std::min(result.timed_out ? killed_at : deadline,
                           std::chrono::steady_clock::now() + options.cancel_grace);
    }
    if (left.count() <= 0 && !result.timed_out && !result.cancelled) {
      result.timed_out = true;
      if (options.on_timeout) {
        options.on_timeout();
      }
      killed_at = std::chrono::steady_clock::now() + options.timeout_grace;
    }
    if ((result.timed_out || result.cancelled) && !sent_kill &&
        std::chrono::steady_clock::now() >= killed_at) {
      if (result.cancelled && options.on_cancel) {
        options.on_cancel();  // what the child started since the first call
      }
      // Not reaped yet, so the pid is still this child's.
      ::kill(pid, SIGKILL);
      sent_kill = true;
    }
    pollfd fds[4];
    nfds_t n = 0;
    if (out_open) {
      fds[n++] = {out_r.get(), POLLIN, 0};
    }
    if (err_open) {
      fds[n++] = {err_r.get(), POLLIN, 0};
    }
    if (pidfd.get() >= 0) {
      fds[n++] = {pidfd.get(), POLLIN, 0};
    }
    const bool watch_cancel = cancel_fd >= 0 && !result.cancelled;
    if (watch_cancel) {
      fds[n++] = {cancel_fd, POLLIN, 0};
    }
    // Without a pidfd (kernels before 5.3) the exit is polled every 10 ms, and so is a cancel
    // without its eventfd.
    const bool fast = result.timed_out || result.cancelled || pidfd.get() < 0 ||
                      (options.cancel != nullptr && cancel_fd < 0);
    const int wait_ms = fast ? 10 : static_cast<int>(std::min<long>(left.count(), 1000));
    if (::poll(fds, n, std::max(wait_ms, 0)) < 0 && errno != EINTR) {
      // Never leave the child behind, whatever poll says.
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Fail(ErrnoError("poll"));
    }
    if (out_open) {
      out_open = Drain(out_r.get(), result.out, options.max_output);
    }
    if (err_open) {
      err_open = Drain(err_r.get(), result.err, options.max_output);
    }
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      reaped = true;
    } else if (w < 0 && errno != EINTR) {
      return Fail(ErrnoError("waitpid"));
    }
  }
  // A grandchild may still hold the pipes (a daemon started by an exec'd command): take what is
  // there now and do not wait for it.
  if (out_open) {
    Drain(out_r.get(), result.out, options.max_output);
  }
  if (err_open) {
    Drain(err_r.get(), result.err, options.max_output);
  }
  result.exit_code = result.timed_out || result.cancelled ? -1 : DecodeWaitStatus(status);
  return result;
}

}  // namespace ferry::runtime
