// `ferry logs APP [--revision REV] [-n N] [-f]`: the container's output, as ferryd keeps it.
#include <chrono>
#include <ostream>
#include <thread>

#include "command.hpp"

namespace ferry::cli {
namespace {

using Json = control::Json;

// How often -f asks ferryd for more.
constexpr std::chrono::milliseconds kFollowInterval{500};

}  // namespace

CommandSpec LogsCommand() {
  struct Args {
    std::string app;
    std::string revision;
    std::size_t lines = 100;
    bool follow = false;
  };
  auto args = std::make_shared<Args>();
  return {
      "logs", "show an app's container output (stdout and stderr)", [args](CLI::App* sub) -> RunFn {
        sub->add_option("app", args->app, "the app")->required();
        sub->add_option("--revision", args->revision,
                        "a revision of the app (default: the one running; see ferry history)");
        sub->add_option("-n,--lines", args->lines, "how many of the last lines to show")
            ->capture_default_str();
        sub->add_flag("-f,--follow", args->follow, "keep printing new output until interrupted");
        return [args](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
          Json params{{"app", args->app}, {"lines", args->lines}};
          if (!args->revision.empty()) {
            params["revision"] = args->revision;
          }
          Json r;
          if (int rc = CallFerryd(options, "logs", params, r, err); rc != 0) {
            return rc;
          }
          if (options.json && !args->follow) {
            out << r.dump(2) << "\n";
            return static_cast<int>(kExitOk);
          }
          out << r.value("text", "") << std::flush;
          if (!args->follow) {
            return static_cast<int>(kExitOk);
          }
          // Follow the same revision: a later update starts a new log (ferry logs again).
          params["revision"] = r.value("revision", "");
          params.erase("lines");
          for (;;) {
            params["from"] = r.value("position", std::uint64_t{0});
            if (int rc = CallFerryd(options, "logs", params, r, err); rc != 0) {
              return rc;
            }
            const std::string text = r.value("text", "");
            if (text.empty()) {
              std::this_thread::sleep_for(kFollowInterval);
            } else {
              out << text << std::flush;
            }
          }
        };
      }};
}

}  // namespace ferry::cli
