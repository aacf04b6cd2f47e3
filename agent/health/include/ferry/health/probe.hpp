// One health probe: an HTTP GET, a TCP connect, or a command inside the container.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ferry/core/cancel_token.hpp"
#include "ferry/manifest/health_check.hpp"
#include "ferry/runtime/container_runtime.hpp"

namespace ferry::health {

struct ProbeResult {
  bool healthy = false;
  std::string output;  // what a person needs to see why (status line, error, command output)
  // Stopped by ferryd's stop before it could tell: neither healthy nor a failure to count.
  bool cancelled = false;
};

class Probe {
 public:
  virtual ~Probe() = default;
  // Runs the probe once, giving up after `timeout`. Blocking; never throws; a probe that cannot
  // run at all is an unhealthy result whose output says why.
  virtual ProbeResult Run(std::chrono::milliseconds timeout) = 0;
};

// The real probe for `check` (nullptr for the process kind, which has none). The exec probe runs
// through `runtime`, which must outlive it. When `cancel` (which must outlive the probe) is
// cancelled, a probe in flight ends at once with `cancelled` set: an http or tcp probe's connect
// or read is abandoned and its socket closed; an exec probe's command is killed by the runtime,
// which observes the same stop (RuncConfig::cancel).
std::unique_ptr<Probe> MakeProbe(const manifest::HealthCheck& check,
                                 runtime::ContainerRuntime& runtime,
                                 const std::string& container_id,
                                 const CancelToken* cancel = nullptr);

}  // namespace ferry::health
