// ferry-server: serves a Ferry repository and the fleet API over HTTP, and operates the fleet.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "ferry/core/log.hpp"
#include "subcommand.hpp"

namespace {

constexpr std::array kSubcommands = {
    ferry::server::Subcommand{"serve", "Serve a repository directory over HTTP/1.1",
                              &ferry::server::SetupServe},
    ferry::server::Subcommand{"admin", "Operate the fleet API: devices and deployments",
                              &ferry::server::SetupAdmin},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ferry-server: serves a Ferry repository to devices"};
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);  // a bare `ferry-server` lists the subcommands
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  std::vector<std::pair<CLI::App*, ferry::server::Runner>> runners;
  for (const auto& command : kSubcommands) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    runners.emplace_back(sub, command.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help is 0; every command-line error is 2, whatever CLI11's own code for it.
    return app.exit(e) == 0 ? 0 : 2;
  }
  ferry::InitLogging("ferry-server", log_level);
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) {
      return run();
    }
  }
  return 2;
}
