// ferryd's top level: owns the event loop, the state database and the control socket, and wires
// the modules together. main() builds one from the configuration and runs it.
#pragma once

#include <memory>

#include "ferry/config/config.hpp"
#include "ferry/core/result.hpp"

namespace ferry::daemon {

class Daemon {
 public:
  virtual ~Daemon() = default;

  // Serves until SIGTERM or SIGINT (or Stop), then shuts down within a second. Tells systemd
  // READY=1 once the control socket accepts connections, and pings its watchdog when asked to.
  virtual Status Run() = 0;

  // Asks Run to return; safe from any thread.
  virtual void Stop() = 0;
};

// Prepares the state directory and opens the state database. Fails, naming what is wrong, when
// the state directory cannot be created or the database cannot be opened or migrated.
Result<std::unique_ptr<Daemon>> CreateDaemon(const config::Config& config);

}  // namespace ferry::daemon
