// ferryd: the on-device update agent. Runs under systemd (docs/operations.md).
//
// Exit status: 0 after a clean shutdown, 1 when it fails while running, 2 for a usage or
// configuration error.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "ferry/config/config.hpp"
#include "ferry/core/crashpoint.hpp"
#include "ferry/core/log.hpp"
#include "ferry/daemon/daemon.hpp"

int main(int argc, char** argv) {
  // One malloc arena for all of ferryd's threads, set before any starts: they allocate little and
  // seldom at the same time, and an arena per thread keeps its own partly used pages (the
  // worker's alone held some 240 KiB at idle) that malloc_trim cannot give back.
  (void)mallopt(M_ARENA_MAX, 1);
  CLI::App app{"ferryd: the Ferry update agent"};
  std::string config_path(ferry::config::kDefaultConfigPath);
  bool list_crashpoints = false;
  bool check_config = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_flag("--list-crashpoints", list_crashpoints, "list the named crash points and exit");
  app.add_flag("--check-config", check_config, "check the configuration file and exit");
  app.set_version_flag("--version", std::string("ferryd ") + FERRY_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (list_crashpoints) {
    for (auto name : ferry::RegisteredCrashpoints()) {
      std::cout << name << "\n";
    }
    return 0;
  }

  auto config = ferry::config::LoadConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "ferryd: %s\n", config.error().message().c_str());
    return 2;
  }
  if (check_config) {
    std::cout << config_path << ": ok\n";
    return 0;
  }
  ferry::InitLogging("ferryd", config->log_level);

  auto daemon = ferry::daemon::CreateDaemon(*config);
  if (!daemon) {
    ferry::log::critical("cannot start: {}", daemon.error().message());
    return 1;
  }
  if (auto st = (*daemon)->Run(); !st) {
    ferry::log::critical("{}", st.error().message());
    return 1;
  }
  return 0;
}
