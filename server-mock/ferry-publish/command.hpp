// The subcommands of ferry-publish. Each lives in its own file and provides one setup function,
// listed in the table of main.cpp: adding a subcommand is one file plus one table row.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>

namespace ferry::publish {

// Runs a parsed subcommand; returns the process exit status (0 success, 1 failure, 2 usage).
using CommandRun = std::function<int()>;

// Adds the subcommand's options to `sub` and returns what runs it after parsing. The options'
// storage must live inside the returned function (captured by shared_ptr).
using CommandSetup = CommandRun (*)(CLI::App& sub);

struct CommandEntry {
  std::string_view name;
  std::string_view description;
  CommandSetup setup;
};

CommandRun SetupDeltaCommand(CLI::App& sub);
CommandRun SetupApplyCommand(CLI::App& sub);

}  // namespace ferry::publish
