// Runs a program with an argument vector (posix_spawn, no shell) and waits for it with a bound.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "ferry/core/cancel_token.hpp"
#include "ferry/core/result.hpp"

namespace ferry::runtime {

struct SpawnOptions {
  // When >= 0, the child's stdout and stderr are this fd and nothing is captured.
  int stdio_fd = -1;
  std::size_t max_output = 64u << 10;  // bytes kept of each of stdout and stderr
  std::chrono::milliseconds timeout{30000};
  // Called once when the timeout passes; the child then has `timeout_grace` to exit by itself
  // before it is killed with SIGKILL.
  std::function<void()> on_timeout;
  std::chrono::milliseconds timeout_grace{0};
  // Watched while the child runs (ferryd is stopping): once cancelled, `on_cancel` is called, the
  // child has `cancel_grace` to exit by itself, `on_cancel` is called again, and the child is
  // killed with SIGKILL and reaped. Nothing is left running or unreaped; null: never cancelled.
  const CancelToken* cancel = nullptr;
  std::function<void()> on_cancel;
  std::chrono::milliseconds cancel_grace{0};
};

struct SpawnResult {
  int exit_code = -1;  // exit status, 128 + signal, -1 after a timeout
  bool timed_out = false;
  bool cancelled = false;  // stopped through SpawnOptions::cancel (exit_code is then -1)
  std::string out;
  std::string err;
};

// Fails only when the program cannot be started (RuntimeErrc::kSpawnFailed); a program that runs
// and fails is a SpawnResult with its exit code. Stdin is /dev/null. Thread-safe.
Result<SpawnResult> SpawnAndWait(const std::vector<std::string>& argv, const SpawnOptions& options);

// Reaps exited children of this process that nobody waits for: as a child subreaper it inherits
// processes orphaned inside containers (an exec'd command whose runc died first), and their
// zombies would keep the container's pid namespace, and so `runc delete`, from finishing.
// Children that SpawnAndWait is waiting for and the pids in `keep` are left alone.
void ReapOrphanedChildren(const std::vector<pid_t>& keep);

// Exit status from a waitpid status word: the exit code, or 128 + signal.
int DecodeWaitStatus(int status);

}  // namespace ferry::runtime
