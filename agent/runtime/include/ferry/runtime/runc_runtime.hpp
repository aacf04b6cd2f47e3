// ContainerRuntime over the runc command line (crun takes the same arguments). Every call spawns
// the runtime binary with an argument vector (posix_spawn, never a shell); a failing call's error
// carries the runtime's own error message.
//
// Logs: the container's stdout and stderr are the file <log_dir>/<app>/<revision>.log, opened
// O_APPEND and handed to the container as its fds 1 and 2. A file rather than a pipe read by
// ferryd, because a pipe blocks the container when its reader is slow and breaks (SIGPIPE) when
// ferryd restarts while the container keeps running; a file never blocks and outlives ferryd.
// Disk use is bounded by copy-and-truncate rotation: when the file passes `log_max_bytes`, its
// last `log_max_bytes` bytes go to <revision>.log.1 and the file is truncated in place (O_APPEND
// writers continue at the new end). Rotation runs at every State call and on a thread of this
// object that sleeps until a container writes to its log (a one-shot inotify watch on each app's
// log directory), then checks at most once per `log_check_interval`: an app that writes nothing
// never wakes ferryd, and the bound is 2 × log_max_bytes plus what the container writes in one
// interval. Lines written between the copy and the truncation are lost; that is the price of never
// blocking the app.
//
// Exit status: runc does not report it, so this object makes its process a child subreaper
// (PR_SET_CHILD_SUBREAPER) and the container's first process, orphaned when `runc create` exits,
// becomes its child; State reaps it and reports the status. After a restart of ferryd the old
// containers are no longer its children, and a stopped one reports no exit code. Being a subreaper
// also makes this process inherit commands orphaned inside containers; State, Delete and the log
// thread reap those. So every other child of the process must be started through SpawnAndWait
// (agent/runtime/spawn.hpp), or its exit status may be reaped here first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/core/cancel_token.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/runtime/container_runtime.hpp"

namespace ferry::runtime {

struct RuncConfig {
  std::filesystem::path binary = "/usr/sbin/runc";  // or crun
  std::filesystem::path root;       // --root: the runtime's state dir (tmpfs on devices)
  std::filesystem::path state_dir;  // Ferry's state dir: volumes/<app>/<name> live here
  std::filesystem::path log_dir;    // container logs: <log_dir>/<app>/<revision>.log
  std::uint64_t log_max_bytes = 1u << 20;
  // The least time between two checks of the log thread; 0: no log thread, rotation only at State
  // calls and RotateLogs.
  std::chrono::milliseconds log_check_interval{2000};
  std::chrono::milliseconds command_timeout{30000};  // bound for every runtime command
  std::string cgroups_parent = "/ferry";
  // ferryd's stop: a runtime command or exec'd command still running when it is cancelled is
  // killed and reaped (the call fails with Errc::kCancelled), and so is every later one. Null:
  // calls are bounded by command_timeout alone. Must outlive the runtime.
  const CancelToken* cancel = nullptr;
};

class RuncRuntime final : public ContainerRuntime {
 public:
  explicit RuncRuntime(RuncConfig config);
  ~RuncRuntime() override;  // stops the log thread; containers keep running
  RuncRuntime(const RuncRuntime&) = delete;
  RuncRuntime& operator=(const RuncRuntime&) = delete;

  Status Create(const std::string& id, const ContainerSpec& spec,
                const std::filesystem::path& bundle_dir) override;
  Status Start(const std::string& id) override;
  Result<ContainerState> State(const std::string& id) override;
  Status Kill(const std::string& id, int signal) override;
  Status Delete(const std::string& id) override;
  Status Stop(const std::string& id, std::chrono::milliseconds grace) override;
  Status StopProcess(const std::string& id, std::chrono::milliseconds grace) override;
  Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) override;

  // Rotates every container log over the limit now. Thread-safe.
  Status RotateLogs();

  // The log file of a container created by this object (empty path when unknown).
  std::filesystem::path LogPath(const std::string& id) const;

 private:
  struct Tracked {
    pid_t pid = 0;
    std::optional<int> exit_code;
    std::filesystem::path log_path;
  };

  std::vector<std::string> Command(std::initializer_list<std::string> args) const;
  Result<std::string> RunRuntime(std::vector<std::string> argv, const std::string& id,
                                 int stdio_fd = -1);
  void ReapLocked(Tracked& t);
  // A pidfd (the caller closes it) of the first process of container `id` when this object
  // created it and has not reaped it, else -1; `exited` when it has reaped it.
  int OpenTrackedPidfd(const std::string& id, bool& exited);
  // StopProcess by that pidfd: SIGTERM, `grace`, SIGKILL.
  Status StopTracked(const std::string& id, int pidfd, std::chrono::milliseconds grace);
  void ReapOrphansLocked();
  void LogLoop();
  void WatchLogs(const std::filesystem::path& app_log_dir);
  void WatchAllLogs();
  bool WaitForLogWrite();

  RuncConfig config_;
  bool swap_limit_ = true;
  mutable std::mutex mu_;
  std::map<std::string, Tracked> tracked_;
  std::mutex log_mu_;  // one rotation at a time
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  UniqueFd log_watch_;  // inotify: one-shot IN_MODIFY on each app's log directory
  UniqueFd log_stop_;   // eventfd: the destructor wakes the log thread
  std::thread log_thread_;
};

}  // namespace ferry::runtime
