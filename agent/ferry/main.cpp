// ferry: the local CLI for people at the device. It talks to ferryd over its control socket.
// Exit codes are listed in command.hpp and docs/operations.md.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"
#include "ferry/config/config.hpp"

int main(int argc, char** argv) {
  using namespace ferry::cli;
  CLI::App app{"ferry: see and steer the Ferry update agent on this device"};
  app.require_subcommand(1);
  GlobalOptions options;
  const char* env_socket = std::getenv("FERRY_SOCKET");
  options.socket = env_socket != nullptr && *env_socket != '\0'
                       ? std::filesystem::path(env_socket)
                       : std::filesystem::path(ferry::config::kDefaultSocketPath);
  app.add_option("--socket", options.socket, "ferryd's control socket (or $FERRY_SOCKET)")
      ->capture_default_str();
  app.add_flag("--json", options.json, "print stable JSON instead of a table");
  app.set_version_flag("--version", std::string("ferry ") + FERRY_VERSION);

  const std::vector<CommandSpec> commands = {StatusCommand(), HistoryCommand(), WhyCommand(),
                                             LogsCommand(),   RevertCommand(),  InstallCommand(),
                                             UpdateCommand(), RetryCommand(),   CheckCommand()};
  std::vector<std::pair<CLI::App*, RunFn>> runs;
  for (const auto& command : commands) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    // Accept --json after the subcommand too ("ferry status --json").
    sub->add_flag("--json", options.json, "print stable JSON instead of a table");
    runs.emplace_back(sub, command.setup(sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // "ferry frob" leaves "frob" unparsed: name it, rather than say a subcommand is required.
    const auto extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && !extra.front().starts_with("-")) {
      std::string names;
      for (const auto& command : commands) {
        names += (names.empty() ? "" : ", ") + std::string(command.name);
      }
      std::cerr << "ferry: unknown command \"" << extra.front() << "\" (commands: " << names
                << "; see ferry --help)\n";
      return kExitUsage;
    }
    app.exit(e);
    return kExitUsage;
  }
  for (auto& [sub, run] : runs) {
    if (sub->parsed()) {
      return run(options, std::cout, std::cerr);
    }
  }
  return kExitUsage;
}
