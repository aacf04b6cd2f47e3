// The subcommands of ferry-publish. Each lives in its own file and provides one setup function,
// listed in the table of main.cpp: adding a subcommand is one file plus one table row.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "ferry/core/error.hpp"

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

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints "ferry-publish CMD: message" on stderr and returns `code`.
inline int Report(std::string_view command, const Error& error, int code = kExitFailure) {
  std::fprintf(stderr, "ferry-publish %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               error.String().c_str());
  return code;
}

CommandRun SetupDeltaCommand(CLI::App& sub);
CommandRun SetupApplyCommand(CLI::App& sub);
CommandRun SetupKeygenCommand(CLI::App& sub);
CommandRun SetupInitCommand(CLI::App& sub);
CommandRun SetupReleaseCommand(CLI::App& sub);
CommandRun SetupTimestampCommand(CLI::App& sub);
CommandRun SetupRotateCommand(CLI::App& sub);
CommandRun SetupRevokeCommand(CLI::App& sub);
CommandRun SetupBundleCommand(CLI::App& sub);
CommandRun SetupVerifyCommand(CLI::App& sub);
CommandRun SetupGcCommand(CLI::App& sub);

}  // namespace ferry::publish
