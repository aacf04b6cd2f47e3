// The local CLI's subcommands, one file each, dispatched from the table in main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>

#include "ferry/control/control.hpp"

namespace ferry::cli {

// Documented in docs/operations.md; scripts rely on them.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,       // ferryd answered with an error
  kExitUsage = 2,        // bad command line
  kExitUnreachable = 3,  // ferryd is not running (or stopped before it answered), or the socket
                         // is not ours to use
  kExitNotApplied = 4,   // the update or revert ran but did not stick (rolled back or failed)
};

struct GlobalOptions {
  std::filesystem::path socket;
  bool json = false;
};

// What each subcommand file provides: register its options on `sub`, and return the function
// that runs it.
using RunFn = std::function<int(const GlobalOptions&, std::ostream& out, std::ostream& err)>;
struct CommandSpec {
  const char* name;
  const char* description;
  std::function<RunFn(CLI::App* sub)> setup;
};

// Calls ferryd and turns failures into the CLI's messages and exit codes. On success returns
// kExitOk and fills `result`.
int CallFerryd(const GlobalOptions& options, const std::string& method, const control::Json& params,
               control::Json& result, std::ostream& err);

// Prints the CLI's message for a failed call and returns its exit code.
int ReportCallError(const Error& error, std::ostream& err);

// The same for `install` and `update`, which reply only with the outcome: waits for it however
// long it takes, and meanwhile prints the step of each update in flight to `err` (from `status`,
// polled every second) unless `--json` asked for quiet. ferryd stopping or dying meanwhile is
// kExitUnreachable, with a message saying so.
int CallAndFollow(const GlobalOptions& options, const std::string& method,
                  const control::Json& params, control::Json& result, std::ostream& err);

CommandSpec StatusCommand();
CommandSpec HistoryCommand();
CommandSpec WhyCommand();
CommandSpec LogsCommand();
CommandSpec RevertCommand();
CommandSpec InstallCommand();
CommandSpec UpdateCommand();
CommandSpec RetryCommand();
CommandSpec CheckCommand();

}  // namespace ferry::cli
