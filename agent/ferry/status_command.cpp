#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

#include "command.hpp"
#include "ferry/core/text.hpp"

namespace ferry::cli {
namespace {

using Json = control::Json;

std::string Field(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) {
    return "-";
  }
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

std::string Uptime(long long s) {
  std::ostringstream out;
  if (s >= 86400) {
    out << s / 86400 << "d ";
  }
  if (s >= 3600) {
    out << (s % 86400) / 3600 << "h ";
  }
  if (s >= 60) {
    out << (s % 3600) / 60 << "m ";
  }
  out << s % 60 << "s";
  return out.str();
}

// "up 3m 2s" / "down 12s" / "-" from an app's supervision fields (unix seconds).
std::string Running(const Json& app) {
  if (!app.contains("running") || !app["running"].is_boolean()) {
    return "-";
  }
  std::string text = app["running"].get<bool>() ? "up" : "down";
  if (app.contains("since") && app["since"].is_number_integer()) {
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    text += " " + Uptime(std::max(0LL, now - app["since"].get<long long>()));
  }
  return text;
}

// "committed", or "probation" until a new revision's probation ends.
std::string State(const Json& current) {
  if (current.is_object() && current.value("probation", false)) {
    return "probation";
  }
  return Field(current, "state");
}

std::string Health(const Json& app) {
  if (!app.contains("healthy") || !app["healthy"].is_boolean()) {
    return "-";
  }
  return app["healthy"].get<bool>() ? "healthy" : "unhealthy";
}

// "2" or "2 (unhealthy)": how often, and why the last time.
std::string Restarts(const Json& app) {
  if (!app.contains("restarts")) {
    return "-";
  }
  std::string text = Field(app, "restarts");
  if (app.contains("last_restart_reason") && app["last_restart_reason"].is_string()) {
    text += " (" + app["last_restart_reason"].get<std::string>() + ")";
  }
  return text;
}

std::string LastExit(const Json& app) {
  if (!app.contains("last_exit") || !app["last_exit"].is_object()) {
    return "-";
  }
  return Field(app["last_exit"], "description");
}

void PrintStatus(const Json& status, std::ostream& out) {
  const Json& agent = status["agent"];
  out << "ferryd " << Field(agent, "version") << ", up "
      << Uptime(agent.value("uptime_seconds", 0LL)) << ", state in " << Field(agent, "state_dir");
  const std::string server = agent.value("server_url", "");
  out << ", " << (server.empty() ? "no update server (offline installs only)" : "server " + server)
      << "\n";
  if (agent.value("recovering", false)) {
    out << "Recovering from an interrupted run: finishing or undoing what was cut short.\n";
  }
  const Json& apps = status["apps"];
  if (!apps.is_array() || apps.empty()) {
    out << "No apps installed.\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"APP", "VERSION", "REVISION", "STATE", "RUNNING",
                                                 "HEALTH", "RESTARTS", "LAST EXIT", "PREVIOUS",
                                                 "UPDATE"}};
  for (const auto& app : apps) {
    const Json& current = app["current"];
    const Json& previous = app["previous"];
    const Json& update = app["update"];
    std::string update_text = "-";
    if (update.is_object()) {
      update_text = Field(update, "step") + " " + Field(update, "version");
      const auto total = update.value("bytes_total", std::uint64_t{0});
      if (total > 0) {
        update_text += " " + FormatBytes(update.value("bytes_done", std::uint64_t{0})) + "/" +
                       FormatBytes(total);
      }
      const auto speed = update.value("bytes_per_second", std::uint64_t{0});
      if (speed > 0) {
        update_text += " " + FormatBytes(speed) + "/s";
      }
    }
    rows.push_back({Field(app, "name"), Field(current, "version"), Field(current, "revision"),
                    State(current), Running(app), Health(app), Restarts(app), LastExit(app),
                    previous.is_object()
                        ? Field(previous, "version") + " (" + Field(previous, "revision") + ")"
                        : "-",
                    update_text});
  }
  PrintTable(rows, out);
}

}  // namespace

CommandSpec StatusCommand() {
  return {"status", "show what each app runs and what ferryd is doing", [](CLI::App*) -> RunFn {
            return [](const GlobalOptions& options, std::ostream& out, std::ostream& err) {
              Json status;
              if (int rc = CallFerryd(options, "status", Json::object(), status, err); rc != 0) {
                return rc;
              }
              if (options.json) {
                out << status.dump(2) << "\n";
              } else {
                PrintStatus(status, out);
              }
              return static_cast<int>(kExitOk);
            };
          }};
}

}  // namespace ferry::cli
