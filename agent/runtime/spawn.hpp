// Runs a program with an argument vector (posix_spawn, no shell) and waits for it with a bound.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::runtime {

struct SpawnOptions {
  // When >= 0, the child's stdout and stderr are this fd and nothing is captured.
  int stdio_fd = -1;
  std::size_t max_output = 64u << 10;  // bytes kept of each of stdout and stderr
  std::chrono::milliseconds timeout{30000};
  // Called once when the timeout passes, before the child is killed with SIGKILL.
  std::function<void()> on_timeout;
};

struct SpawnResult {
  int exit_code = -1;  // exit status, 128 + signal, -1 after a timeout
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Fails only when the program cannot be started (RuntimeErrc::kSpawnFailed); a program that runs
// and fails is a SpawnResult with its exit code. Stdin is /dev/null. Thread-safe.
Result<SpawnResult> SpawnAndWait(const std::vector<std::string>& argv, const SpawnOptions& options);

// Exit status from a waitpid status word: the exit code, or 128 + signal.
int DecodeWaitStatus(int status);

}  // namespace ferry::runtime
