// Running Ferry's own binaries from tests: black-box, as a person or systemd would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ferry::testing {

// Path of a program built by this build tree (ferryd, ferry, …).
std::filesystem::path BuiltProgram(const std::string& name);

struct RunResult {
  int exit_code = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs a program to completion, capturing stdout and stderr. Extra environment variables are added
// to the current environment.
RunResult Run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {});

// A child process running in the background; killed (SIGKILL) and reaped by the destructor.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
        const std::filesystem::path& log_file = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits for the child to exit; returns its status (exit code or 128 + signal), or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held. (Waiting on
// a real child process is the one place a test polls: the child's clock is the real one.)
template <class F>
bool WaitFor(F cond, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ferry::testing

#include <thread>

template <class F>
bool ferry::testing::WaitFor(F cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}
