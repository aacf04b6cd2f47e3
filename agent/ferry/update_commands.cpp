#include <filesystem>
#include <ostream>

#include "command.hpp"

namespace ferry::cli {
namespace {

using Json = control::Json;

// Prints an install or revert result; a rollback or failure is exit code 4.
int PrintOutcome(const GlobalOptions& options, const Json& r, std::ostream& out) {
  if (options.json) {
    out << r.dump(2) << "\n";
  } else {
    const std::string outcome = r.value("outcome", "?");
    out << outcome << ": " << (r.contains("app") ? r["app"].get<std::string>() + " " : "")
        << (r.contains("version") ? r["version"].get<std::string>() + " " : "") << "(revision "
        << r.value("revision", "?") << ")";
    const std::string reason = r.value("reason", "");
    if (!reason.empty()) {
      out << ": " << reason;
    }
    out << "\n";
  }
  const std::string outcome = r.value("outcome", "");
  return outcome == "committed" || outcome == "already-installed" ? kExitOk : kExitNotApplied;
}

}  // namespace

CommandSpec RevertCommand() {
  struct Args {
    std::string app;
    std::string to;
  };
  auto args = std::make_shared<Args>();
  return {"revert", "switch an app back to its previous (or a named) good revision",
          [args](CLI::App* sub) -> RunFn {
            sub->add_option("app", args->app, "the app")->required();
            sub->add_option("--to", args->to, "the revision to go back to (see ferry history)");
            return [args](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              Json params{{"app", args->app}};
              if (!args->to.empty()) {
                params["revision"] = args->to;
              }
              Json result;
              if (int rc = CallFerryd(options, "revert", params, result, err); rc != 0) {
                return rc;
              }
              return PrintOutcome(options, result, out);
            };
          }};
}

CommandSpec InstallCommand() {
  auto bundle = std::make_shared<std::string>();
  return {
      "install", "install an offline bundle made by ferry-publish bundle",
      [bundle](CLI::App* sub) -> RunFn {
        sub->add_option("bundle", *bundle, "the bundle file")->required();
        return [bundle](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
          std::error_code ec;
          const auto path = std::filesystem::absolute(*bundle, ec);
          if (ec || !std::filesystem::is_regular_file(path, ec)) {
            err << "ferry: " << *bundle << " is not a readable file\n";
            return static_cast<int>(kExitUsage);
          }
          Json result;
          if (int rc = CallFerryd(options, "install", Json{{"bundle", path.string()}}, result, err);
              rc != 0) {
            return rc;
          }
          return PrintOutcome(options, result, out);
        };
      }};
}

}  // namespace ferry::cli
