// The port through which Ferry runs containers. RuncRuntime drives runc (or crun) through its
// command line; unit tests use a fake. Ids are chosen by the caller ([A-Za-z0-9][A-Za-z0-9_.-]*).
// All methods block until the runtime answers and may be called from any thread; they must not
// run on ferryd's event loop.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/runtime/container_spec.hpp"
#include "ferry/runtime/errors.hpp"

namespace ferry::runtime {

enum class ContainerStatus { kCreating, kCreated, kRunning, kPaused, kStopped };

struct ContainerState {
  ContainerStatus status = ContainerStatus::kStopped;
  int pid = 0;  // host pid of the container's first process (0 when unknown)
  // Exit status once stopped (128 + signal for a signal), when the runtime could observe it.
  std::optional<int> exit_code;
};

struct ExecResult {
  int exit_code = -1;  // exit status (128 + signal), -1 when it timed out
  bool timed_out = false;
  std::string output;  // stdout then stderr, bounded (the first bytes are kept)
};

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;

  // Prepares container `id` from `spec` with `bundle_dir` as its OCI bundle (config.json is written
  // there; the rootfs stays at spec.rootfs). Creates missing named volumes. The process does not
  // run until Start. Fails with kInvalidSpec/kRefused for a bad spec (nothing is created) and
  // kRuntimeFailed when the runtime refuses (for example an id already in use).
  virtual Status Create(const std::string& id, const ContainerSpec& spec,
                        const std::filesystem::path& bundle_dir) = 0;

  // Runs the process of a created container. kNoSuchContainer when `id` is unknown.
  virtual Status Start(const std::string& id) = 0;

  // The container's current state. kNoSuchContainer when the runtime has no such container (for
  // example after a power cut emptied the runtime's state directory).
  virtual Result<ContainerState> State(const std::string& id) = 0;

  // Sends `signal` to the container's first process. kNoSuchContainer when unknown; signalling a
  // stopped container is not an error.
  virtual Status Kill(const std::string& id, int signal) = 0;

  // Removes the container, killing it first when it still runs. Deleting an unknown id succeeds,
  // so recovery can call it blindly.
  virtual Status Delete(const std::string& id) = 0;

  // SIGTERM, up to `grace` for the process to exit, then SIGKILL, then Delete. Succeeds when the
  // container is gone afterwards, whatever state it was in.
  virtual Status Stop(const std::string& id, std::chrono::milliseconds grace) = 0;

  // Stop without the Delete: succeeds when the container's process has ended (or there is no such
  // container), and leaves the stopped container for a Delete later. A switch starts the new
  // revision between the two, so that removing the old container costs the app no downtime.
  virtual Status StopProcess(const std::string& id, std::chrono::milliseconds grace) = 0;

  // Runs `argv` inside the running container (same namespaces, user, capabilities and seccomp
  // filter as its process) and waits for it up to `timeout`, killing it after that. A command that
  // runs and fails is a successful call with a non-zero exit_code; errors are for a runtime that
  // could not run it at all.
  virtual Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) = 0;
};

const char* StatusName(ContainerStatus status);

}  // namespace ferry::runtime
