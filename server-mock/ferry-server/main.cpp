// ferry-server: serves a Ferry repository (and, later, the fleet API) over HTTP.
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
    return app.exit(e);
  }
  ferry::InitLogging("ferry-server", log_level);
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) {
      return run();
    }
  }
  return 2;
}
