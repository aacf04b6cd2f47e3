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

// `--no-wait`: ferryd has accepted the install and runs it in the background.
int PrintAccepted(const GlobalOptions& options, const Json& r, const std::string& what,
                  std::ostream& out) {
  if (options.json) {
    out << r.dump(2) << "\n";
  } else {
    out << "accepted: " << what << " runs in the background; follow it with ferry status\n";
  }
  return kExitOk;
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
  struct Args {
    std::string bundle;
    bool no_wait = false;
    bool retry_bad = false;
  };
  auto args = std::make_shared<Args>();
  return {"install", "install an offline bundle made by ferry-publish bundle",
          [args](CLI::App* sub) -> RunFn {
            sub->add_option("bundle", args->bundle, "the bundle file")->required();
            sub->add_flag(
                "--no-wait", args->no_wait,
                "return once ferryd has accepted the bundle (follow it with ferry status)");
            sub->add_flag("--retry-bad", args->retry_bad,
                          "try the release again even if it was marked bad on this device");
            return [args](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              std::error_code ec;
              const auto path = std::filesystem::absolute(args->bundle, ec);
              if (ec || !std::filesystem::is_regular_file(path, ec)) {
                err << "ferry: " << args->bundle << " is not a readable file\n";
                return static_cast<int>(kExitUsage);
              }
              Json result;
              Json params{{"bundle", path.string()}};
              if (args->retry_bad) {
                params["retry_bad"] = true;
              }
              if (args->no_wait) {
                params["wait"] = false;
                if (int rc = CallFerryd(options, "install", params, result, err); rc != 0) {
                  return rc;
                }
                return PrintAccepted(options, result, "the install of " + path.string(), out);
              }
              if (int rc = CallAndFollow(options, "install", params, result, err); rc != 0) {
                return rc;
              }
              return PrintOutcome(options, result, out);
            };
          }};
}

CommandSpec RetryCommand() {
  struct Args {
    std::string app;
    std::string version;
  };
  auto args = std::make_shared<Args>();
  return {"retry", "lift the bad mark of a release, so that its next install tries it again",
          [args](CLI::App* sub) -> RunFn {
            sub->add_option("app", args->app, "the app")->required();
            sub->add_option("version", args->version, "the release version")->required();
            return [args](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              Json result;
              if (int rc =
                      CallFerryd(options, "retry",
                                 Json{{"app", args->app}, {"version", args->version}}, result, err);
                  rc != 0) {
                return rc;
              }
              if (options.json) {
                out << result.dump(2) << "\n";
              } else {
                out << args->app << " " << args->version
                    << " is no longer marked bad: its next install (ferry install, ferry update "
                       "or the fleet's assignment) tries it again.\n";
              }
              return static_cast<int>(kExitOk);
            };
          }};
}

CommandSpec UpdateCommand() {
  struct Args {
    std::string app;
    std::string version;
    bool no_wait = false;
  };
  auto args = std::make_shared<Args>();
  return {"update", "install a release of an app from the configured repository now",
          [args](CLI::App* sub) -> RunFn {
            sub->add_option("app", args->app, "the app")->required();
            sub->add_option("version", args->version, "the release version")->required();
            sub->add_flag("--no-wait", args->no_wait,
                          "return once ferryd has accepted it (follow it with ferry status)");
            return [args](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              Json params{{"app", args->app}, {"version", args->version}};
              Json result;
              if (args->no_wait) {
                params["wait"] = false;
                if (int rc = CallFerryd(options, "update", params, result, err); rc != 0) {
                  return rc;
                }
                return PrintAccepted(options, result,
                                     "the update of " + args->app + " to " + args->version, out);
              }
              if (int rc = CallAndFollow(options, "update", params, result, err); rc != 0) {
                return rc;
              }
              return PrintOutcome(options, result, out);
            };
          }};
}

CommandSpec CheckCommand() {
  return {"check", "ask the fleet server now for this device's assignment", [](CLI::App*) -> RunFn {
            return [](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              Json r;
              if (int rc = CallFerryd(options, "check", Json::object(), r, err); rc != 0) {
                return rc;
              }
              if (options.json) {
                out << r.dump(2) << "\n";
                return static_cast<int>(kExitOk);
              }
              const Json& apps = r["assignment"];
              if (!apps.is_array() || apps.empty()) {
                out << "The fleet server assigns no app to this device.\n";
              }
              for (const auto& a : apps) {
                out << "assigned: " << a.value("app", "?") << " " << a.value("version", "?")
                    << " (deployment " << a.value("deployment", "?") << ")"
                    << (a.value("downgrade", false) ? ", a downgrade" : "")
                    << (a.value("running", false) ? ", already running" : "") << "\n";
              }
              const Json& queued = r["queued"];
              if (queued.is_array() && !queued.empty()) {
                for (const auto& q : queued) {
                  out << "updating: " << q.get<std::string>() << " (see ferry status)\n";
                }
              } else {
                out << "Nothing to update.\n";
              }
              return static_cast<int>(kExitOk);
            };
          }};
}

}  // namespace ferry::cli
