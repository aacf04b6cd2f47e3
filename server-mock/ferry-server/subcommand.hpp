// ferry-server's subcommands, dispatched from one table in main.cpp. Each subcommand has one
// Setup function that adds its options to its CLI11 sub-app and returns the function that runs it
// once the command line is parsed; that function returns the process exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace ferry::server {

using Runner = std::function<int()>;

struct Subcommand {
  const char* name;
  const char* description;
  Runner (*setup)(CLI::App& app);
};

// `ferry-server serve`: serves a repository over HTTP (serve_command.cpp).
Runner SetupServe(CLI::App& app);
// `ferry-server admin`: the operator's CLI for the fleet API (admin_command.cpp).
Runner SetupAdmin(CLI::App& app);

}  // namespace ferry::server
