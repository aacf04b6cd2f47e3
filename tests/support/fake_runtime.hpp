// A ContainerRuntime in memory, for unit tests of the code above the runtime (health checks, the
// update engine). Header-only so that test binaries that need it include it and link nothing more.
// Tests drive it: Exit, Restart and an exec handler stand in for what a real app would do.
#pragma once

#include <signal.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ferry/runtime/container_runtime.hpp"

namespace ferry::testing {

class FakeRuntime final : public runtime::ContainerRuntime {
 public:
  using ExecHandler = std::function<Result<runtime::ExecResult>(
      const std::string& id, const std::vector<std::string>& argv, std::chrono::milliseconds)>;

  struct Container {
    runtime::ContainerSpec spec;
    std::filesystem::path bundle;
    runtime::ContainerState state;
    bool ignores_sigterm = false;
  };

  Status Create(const std::string& id, const runtime::ContainerSpec& spec,
                const std::filesystem::path& bundle_dir) override {
    if (auto v = runtime::ValidateSpec(spec); !v) {
      return v;
    }
    std::lock_guard lock(mu_);
    calls_.push_back("create " + id);
    if (id == refused_create_) {
      return Fail(runtime::RuntimeErrc::kRuntimeFailed, "runc create " + id + ": refused");
    }
    if (containers_.contains(id)) {
      return Fail(runtime::RuntimeErrc::kRuntimeFailed, "container id " + id + " already exists");
    }
    Container c{spec, bundle_dir, {runtime::ContainerStatus::kCreated, next_pid_++, std::nullopt}};
    containers_[id] = std::move(c);
    return Ok();
  }

  Status Start(const std::string& id) override {
    std::lock_guard lock(mu_);
    calls_.push_back("start " + id);
    auto* c = FindLocked(id);
    if (c == nullptr) {
      return Missing(id);
    }
    if (c->state.status != runtime::ContainerStatus::kCreated) {
      return Fail(runtime::RuntimeErrc::kRuntimeFailed,
                  "cannot start a container that is not created");
    }
    c->state.status = runtime::ContainerStatus::kRunning;
    return Ok();
  }

  Result<runtime::ContainerState> State(const std::string& id) override {
    std::lock_guard lock(mu_);
    ++state_calls_;
    auto* c = FindLocked(id);
    if (c == nullptr) {
      return Missing(id);
    }
    return c->state;
  }

  Status Kill(const std::string& id, int signal) override {
    std::lock_guard lock(mu_);
    calls_.push_back("kill " + id + " " + std::to_string(signal));
    auto* c = FindLocked(id);
    if (c == nullptr) {
      return Missing(id);
    }
    if (c->state.status != runtime::ContainerStatus::kStopped &&
        !(signal == SIGTERM && c->ignores_sigterm)) {
      c->state = {runtime::ContainerStatus::kStopped, c->state.pid, 128 + signal};
    }
    return Ok();
  }

  Status Delete(const std::string& id) override {
    std::lock_guard lock(mu_);
    calls_.push_back("delete " + id);
    containers_.erase(id);
    return Ok();
  }

  Status Stop(const std::string& id, std::chrono::milliseconds grace) override {
    std::lock_guard lock(mu_);
    calls_.push_back("stop " + id + " " + std::to_string(grace.count()));
    containers_.erase(id);
    return Ok();
  }

  Status StopProcess(const std::string& id, std::chrono::milliseconds grace) override {
    std::lock_guard lock(mu_);
    calls_.push_back("stop-process " + id + " " + std::to_string(grace.count()));
    if (auto* c = FindLocked(id); c != nullptr) {
      c->state.status = runtime::ContainerStatus::kStopped;
    }
    return Ok();
  }

  Result<runtime::ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout) override {
    ExecHandler handler;
    {
      std::lock_guard lock(mu_);
      calls_.push_back("exec " + id);
      auto* c = FindLocked(id);
      if (c == nullptr) {
        return Missing(id);
      }
      if (c->state.status != runtime::ContainerStatus::kRunning) {
        return Fail(runtime::RuntimeErrc::kRuntimeFailed,
                    "exec in " + id + ": container is " + runtime::StatusName(c->state.status));
      }
      handler = exec_handler_;
    }
    if (!handler) {
      return runtime::ExecResult{0, false, ""};
    }
    return handler(id, argv, timeout);
  }

  // Test controls.
  void AddRunning(const std::string& id, int pid = 0) {
    std::lock_guard lock(mu_);
    containers_[id].state = {runtime::ContainerStatus::kRunning, pid > 0 ? pid : next_pid_++,
                             std::nullopt};
  }
  void Exit(const std::string& id, int status) {
    std::lock_guard lock(mu_);
    if (auto* c = FindLocked(id)) {
      c->state.status = runtime::ContainerStatus::kStopped;
      c->state.exit_code = status;
    }
  }
  void Restart(const std::string& id) {
    std::lock_guard lock(mu_);
    if (auto* c = FindLocked(id)) {
      c->state = {runtime::ContainerStatus::kRunning, next_pid_++, std::nullopt};
    }
  }
  // Create of `id` fails (as runc does for a bundle it cannot set up); empty: none.
  void RefuseCreate(std::string id) {
    std::lock_guard lock(mu_);
    refused_create_ = std::move(id);
  }
  void SetExecHandler(ExecHandler handler) {
    std::lock_guard lock(mu_);
    exec_handler_ = std::move(handler);
  }
  std::vector<std::string> Calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int StateCalls() const {
    std::lock_guard lock(mu_);
    return state_calls_;
  }
  std::optional<Container> Get(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    return it == containers_.end() ? std::nullopt : std::optional<Container>(it->second);
  }

 private:
  Container* FindLocked(const std::string& id) {
    auto it = containers_.find(id);
    return it == containers_.end() ? nullptr : &it->second;
  }
  static std::unexpected<Error> Missing(const std::string& id) {
    return Fail(runtime::RuntimeErrc::kNoSuchContainer, id + ": container does not exist");
  }

  mutable std::mutex mu_;
  std::map<std::string, Container> containers_;
  std::vector<std::string> calls_;
  int state_calls_ = 0;
  int next_pid_ = 100;
  ExecHandler exec_handler_;
  std::string refused_create_;
};

}  // namespace ferry::testing
