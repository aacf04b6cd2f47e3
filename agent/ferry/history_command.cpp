#include <ctime>
#include <ostream>

#include "command.hpp"
#include "ferry/core/text.hpp"

namespace ferry::cli {
namespace {

using Json = control::Json;

std::string When(std::int64_t millis) {
  const std::time_t t = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string Steps(const Json& steps) {
  std::string out;
  for (const auto& s : steps) {
    if (!out.empty()) {
      out += ", ";
    }
    out += s.value("step", "?") + " ";
    out += s["duration_ms"].is_number()
               ? std::to_string(s["duration_ms"].get<std::int64_t>()) + "ms"
               : std::string("(unfinished)");
  }
  return out.empty() ? "-" : out;
}

}  // namespace

CommandSpec HistoryCommand() {
  auto app = std::make_shared<std::string>();
  return {
      "history", "list an app's revisions with per-step timings and reasons",
      [app](CLI::App* sub) -> RunFn {
        sub->add_option("app", *app, "the app")->required();
        return [app](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
          Json result;
          if (int rc = CallFerryd(options, "history", Json{{"app", *app}}, result, err); rc != 0) {
            return rc;
          }
          if (options.json) {
            out << result.dump(2) << "\n";
            return static_cast<int>(kExitOk);
          }
          std::vector<std::vector<std::string>> rows = {
              {"CREATED", "VERSION", "REVISION", "STATE", "STEPS", "REASON"}};
          for (const auto& r : result["revisions"]) {
            std::string state = r.value("state", "?");
            if (r.value("bad", false)) {
              state += " (bad)";
            }
            std::string reason = r.value("reason", "").empty() ? "-" : r.value("reason", "");
            if (r.contains("retried") && r["retried"].is_string()) {
              reason += " [" + r["retried"].get<std::string>() + "]";
            }
            rows.push_back({When(r.value("created_at", std::int64_t{0})), r.value("version", ""),
                            r.value("revision", ""), state, Steps(r["steps"]), reason});
          }
          PrintTable(rows, out);
          return static_cast<int>(kExitOk);
        };
      }};
}

CommandSpec WhyCommand() {
  auto app = std::make_shared<std::string>();
  return {"why", "explain an app's last failed or rolled-back update",
          [app](CLI::App* sub) -> RunFn {
            sub->add_option("app", *app, "the app")->required();
            return [app](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              Json result;
              if (int rc = CallFerryd(options, "why", Json{{"app", *app}}, result, err); rc != 0) {
                return rc;
              }
              if (options.json) {
                out << result.dump(2) << "\n";
                return static_cast<int>(kExitOk);
              }
              const Json& f = result["failure"];
              if (f.is_null()) {
                out << *app << ": no failed update on record.\n";
                return static_cast<int>(kExitOk);
              }
              out << *app << " " << f.value("version", "?");
              if (f.contains("revision") && f["revision"].is_string()) {
                out << " (revision " << f["revision"].get<std::string>() << ")";
              } else if (f.contains("deployment") && f["deployment"].is_string()) {
                out << " (deployment " << f["deployment"].get<std::string>() << ")";
              }
              out << " " << f.value("state", "?") << " at " << When(f.value("at", std::int64_t{0}))
                  << "\n";
              out << "  reason: " << f.value("reason", "") << "\n";
              if (f.contains("retried") && f["retried"].is_string()) {
                out << "  retried: " << f["retried"].get<std::string>() << "\n";
              }
              if (f.value("bad", false)) {
                out << "  marked bad: it will not be installed again automatically (ferry retry "
                    << *app << " " << f.value("version", "?") << " lifts the mark).\n";
              }
              return static_cast<int>(kExitOk);
            };
          }};
}

}  // namespace ferry::cli
