// `ferry-server admin --url URL --token-file F [--ca-file F] [--cert F --key F] [--json]
//  <devices|deploy> ...`: the operator's CLI for the fleet API. Exit status: 0 done, 1 the server
// refused or failed (its message is shown), 2 bad command line, 3 the server could not be reached.
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "admin_client.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/text.hpp"
#include "subcommand.hpp"

namespace ferry::server {
namespace {

using json = nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitServer = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

struct AdminOptions {
  std::string url;
  std::string token_file;
  AdminTls tls;
  bool json_output = false;

  // devices
  std::string device_id;
  std::vector<std::string> tags;
  std::vector<std::string> remove_tags;
  std::string token_out;
  // deploy
  std::string deployment;
  std::string app;
  std::string version;
  std::vector<std::string> devices;
  std::string phases;
  std::string phase_wait;
  double max_failure_ratio = -1;
  bool downgrade = false;
  bool retry_bad = false;
  std::string reason;
};

// "1,10,100" → [1, 10, 100]; nullopt unless 1 to 10 ascending percentages ending at 100.
std::optional<std::vector<int>> ParsePhases(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    int v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size()) {
      return std::nullopt;
    }
    out.push_back(v);
  }
  // The server's rules (docs/fleet-api.md): checked here too, so a typo is a usage error.
  if (out.empty() || out.size() > 10 || out.back() != 100) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] < 1 || out[i] > 100 || (i > 0 && out[i] <= out[i - 1])) {
      return std::nullopt;
    }
  }
  return out;
}

// "90", "90s", "10m", "2h", "1d" → seconds.
std::optional<std::int64_t> ParseDuration(const std::string& text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || v < 0) {
    return std::nullopt;
  }
  const std::string unit(end, text.data() + text.size());
  if (unit.empty() || unit == "s") {
    return v;
  }
  if (unit == "m") {
    return v * 60;
  }
  if (unit == "h") {
    return v * 3600;
  }
  if (unit == "d") {
    return v * 86400;
  }
  return std::nullopt;
}

std::string Time(const json& v) {
  if (!v.is_number_integer()) {
    return "-";
  }
  const std::time_t t = v.get<std::int64_t>();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// A value reported by a device, shown as text whatever its JSON type; "-" when absent.
std::string Text(const json& v) {
  if (v.is_null()) {
    return "-";
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string Join(const json& list, const char* sep = ",") {
  std::string out;
  for (const auto& item : list) {
    out += (out.empty() ? "" : sep) + (item.is_string() ? item.get<std::string>() : item.dump());
  }
  return out.empty() ? "-" : out;
}

void PrintDevices(const json& devices) {
  std::vector<std::vector<std::string>> rows = {{"ID", "TAGS", "LAST SEEN", "STATE"}};
  for (const auto& d : devices) {
    rows.push_back({d.value("id", ""), Join(d.value("tags", json::array())),
                    Time(d.value("last_seen_at", json())),
                    d.value("revoked", false) ? "revoked" : "active"});
  }
  PrintTable(rows, std::cout);
}

std::string PhaseText(const json& d) {
  const auto phases = d.value("phases", json::array());
  const int current = d.value("current_phase", 0);
  std::string text = std::to_string(current + 1) + "/" + std::to_string(phases.size());
  if (current < static_cast<int>(phases.size())) {
    text += " (" + phases[static_cast<std::size_t>(current)].dump() + "%)";
  }
  return text;
}

void PrintDeployments(const json& list) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "APP", "VERSION", "STATE", "PHASE", "DEVICES", "COMMITTED", "FAILED"}};
  for (const auto& d : list) {
    const json counts = d.value("counts", json::object());
    const auto failed = counts.value("failed", 0) + counts.value("rolled-back", 0);
    rows.push_back(
        {d.value("id", ""), d.value("app", ""),
         d.value("version", "") + (d.value("downgrade", false) ? " (downgrade)" : ""),
         d.value("state", ""), PhaseText(d),
         std::to_string(d.value("released", 0)) + "/" + std::to_string(d.value("targeted", 0)),
         std::to_string(counts.value("committed", 0)), std::to_string(failed)});
  }
  PrintTable(rows, std::cout);
}

void PrintDeployment(const json& d) {
  std::vector<std::vector<std::string>> rows = {
      {"deployment", d.value("id", "")},
      {"app", d.value("app", "") + " " + d.value("version", "")},
      {"downgrade", d.value("downgrade", false) ? "yes" : "no"},
      {"retry bad", d.value("retry_bad", false) ? "yes" : "no"},
      {"state", d.value("state", "")},
      {"phase", PhaseText(d) + " of " + Join(d.value("phases", json::array())) + "%"},
      {"phase wait", d.value("phase_wait_seconds", json()).is_number()
                         ? std::to_string(d["phase_wait_seconds"].get<std::int64_t>()) + " s"
                         : "manual (promote)"},
      {"max failure ratio", json(d.value("max_failure_ratio", 0.0)).dump()},
      {"devices", std::to_string(d.value("released", 0)) + " released of " +
                      std::to_string(d.value("targeted", 0)) + " targeted"},
      {"created", Time(d.value("created_at", json()))},
  };
  if (!d.value("reverts", "").empty()) {
    rows.push_back({"reverts", d["reverts"].get<std::string>()});
  }
  if (!d.value("pause_reason", "").empty()) {
    rows.push_back({"reason", d["pause_reason"].get<std::string>()});
  }
  PrintTable(rows, std::cout);
  std::cout << "\n";
  std::vector<std::vector<std::string>> counts = {{"STATE", "DEVICES"}};
  for (const char* state :
       {"pending", "downloading", "installing", "committed", "failed", "rolled-back"}) {
    counts.push_back({state, std::to_string(d.value("counts", json::object()).value(state, 0))});
  }
  PrintTable(counts, std::cout);
  const json failures = d.value("failures", json::array());
  if (!failures.empty()) {
    std::cout << "\n";
    std::vector<std::vector<std::string>> rows2 = {{"DEVICE", "STATE", "REASON"}};
    for (const auto& f : failures) {
      rows2.push_back({f.value("device", ""), f.value("state", ""), f.value("reason", "")});
    }
    PrintTable(rows2, std::cout);
  }
}

void PrintDevice(const json& reply) {
  const json d = reply.value("device", json::object());
  std::vector<std::vector<std::string>> fields = {
      {"device", d.value("id", "")},
      {"tags", Join(d.value("tags", json::array()))},
      {"state",
       d.value("revoked", false) ? "revoked " + Time(d.value("revoked_at", json())) : "active"},
      {"created", Time(d.value("created_at", json()))},
      {"last seen", Time(d.value("last_seen_at", json()))},
      {"inventory at", Time(d.value("inventory_at", json()))}};
  const json inventory = d.value("inventory", json());
  if (inventory.is_object()) {
    fields.push_back({"agent", Text(inventory.value("agent_version", json()))});
    if (inventory.contains("free_bytes") && inventory["free_bytes"].is_number_unsigned()) {
      fields.push_back({"free space", FormatBytes(inventory["free_bytes"].get<std::uint64_t>())});
    }
  }
  PrintTable(fields, std::cout);
  if (inventory.is_object() && inventory.contains("apps") && inventory["apps"].is_array()) {
    std::cout << "\n";
    std::vector<std::vector<std::string>> running = {
        {"RUNNING", "VERSION", "HEALTH", "REVISION", "PREVIOUS"}};
    for (const auto& a : inventory["apps"]) {
      if (!a.is_object()) {
        continue;
      }
      running.push_back({Text(a.value("app", json())), Text(a.value("version", json())),
                         Text(a.value("health", json())), Text(a.value("revision", json())),
                         Text(a.value("previous_revision", json()))});
    }
    PrintTable(running, std::cout);
  }
  std::cout << "\n";
  std::vector<std::vector<std::string>> apps = {{"APP", "VERSION", "DEPLOYMENT", "DOWNGRADE"}};
  for (const auto& a : reply.value("assignment", json::array())) {
    apps.push_back({a.value("app", ""), a.value("version", ""), a.value("deployment", ""),
                    a.value("downgrade", false) ? "yes" : "no"});
  }
  PrintTable(apps, std::cout);
  const json events = reply.value("events", json::array());
  if (!events.empty()) {
    std::cout << "\n";
    std::vector<std::vector<std::string>> rows = {
        {"SEQ", "RECEIVED", "KIND", "APP", "VERSION", "REASON"}};
    for (const auto& e : events) {
      rows.push_back({std::to_string(e.value("sequence", 0)), Time(e.value("received_at", json())),
                      e.value("kind", ""), e.value("app", ""), e.value("version", ""),
                      e.value("reason", "")});
    }
    PrintTable(rows, std::cout);
  }
}

std::string PathEscape(const std::string& segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 0xf]};
    }
  }
  return out;
}

struct Call {
  std::string method;
  std::string path;
  std::optional<json> body;
  void (*print)(const json& reply);
};

int Run(const AdminOptions& o, const std::string& command) {
  auto token_text = fs::ReadFile(o.token_file, 4096);
  if (!token_text) {
    std::cerr << "error: " << token_text.error().String() << "\n";
    return kExitUsage;
  }
  std::string token = *token_text;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) {
    std::cerr << "error: the token file " << o.token_file << " is empty\n";
    return kExitUsage;
  }
  Call call;
  const std::string dev = "/v1/devices/" + PathEscape(o.device_id);
  const std::string dep = "/v1/deployments/" + PathEscape(o.deployment);
  json rollout = json::object();
  if (!o.phases.empty()) {
    auto phases = ParsePhases(o.phases);
    if (!phases) {
      std::cerr << "error: --phases takes 1 to 10 cumulative percentages, ascending, ending at "
                   "100, e.g. 1,10,100 (got "
                << o.phases << ")\n";
      return kExitUsage;
    }
    rollout["phases"] = *phases;
  }
  if (!o.phase_wait.empty()) {
    auto wait = ParseDuration(o.phase_wait);
    if (!wait) {
      std::cerr << "error: --phase-wait takes a duration such as 90s, 10m, 2h or 1d\n";
      return kExitUsage;
    }
    rollout["phase_wait_seconds"] = *wait;
  }
  if (o.max_failure_ratio >= 0) {
    rollout["max_failure_ratio"] = o.max_failure_ratio;
  }
  const auto print_deployment = [](const json& r) {
    PrintDeployment(r.value("deployment", json()));
  };
  if (command == "devices add") {
    call = {"POST", "/v1/devices", json{{"id", o.device_id}, {"tags", o.tags}}, [](const json& r) {
              std::cout << "device " << r["device"].value("id", "") << " added\n";
              std::cout << "token: " << r.value("token", "")
                        << "\n(shown once: put it in the device's device_token_file)\n";
            }};
  } else if (command == "devices list") {
    call = {"GET", "/v1/devices" + (o.tags.empty() ? "" : "?tag=" + PathEscape(o.tags.front())),
            std::nullopt, [](const json& r) { PrintDevices(r.value("devices", json::array())); }};
  } else if (command == "devices show") {
    call = {"GET", dev, std::nullopt, &PrintDevice};
  } else if (command == "devices tag") {
    call = {"POST", dev + "/tags", json{{"add", o.tags}, {"remove", o.remove_tags}},
            [](const json& r) { PrintDevices(json::array({r.value("device", json())})); }};
  } else if (command == "devices revoke") {
    call = {"POST", dev + "/revoke", json::object(),
            [](const json& r) { PrintDevices(json::array({r.value("device", json())})); }};
  } else if (command == "deploy create") {
    json body = rollout;
    body["app"] = o.app;
    body["version"] = o.version;
    body["devices"] = o.devices;
    body["tags"] = o.tags;
    body["downgrade"] = o.downgrade;
    body["retry_bad"] = o.retry_bad;
    call = {"POST", "/v1/deployments", body, print_deployment};
  } else if (command == "deploy list") {
    call = {"GET", "/v1/deployments", std::nullopt,
            [](const json& r) { PrintDeployments(r.value("deployments", json::array())); }};
  } else if (command == "deploy status") {
    call = {"GET", dep, std::nullopt, print_deployment};
  } else if (command == "deploy pause") {
    call = {"POST", dep + "/pause", json{{"reason", o.reason}}, print_deployment};
  } else if (command == "deploy revert") {
    json body = rollout;
    if (!o.version.empty()) {
      body["version"] = o.version;
    }
    call = {"POST", dep + "/revert", body, print_deployment};
  } else {  // deploy resume / abort / promote
    call = {"POST", dep + "/" + command.substr(command.find(' ') + 1), json::object(),
            print_deployment};
  }
  AdminClient client(o.url, token, o.tls);
  const AdminReply reply = client.Call(call.method, call.path, call.body);
  if (!reply.reached) {
    std::cerr << "error: " << reply.error << "\n";
    return kExitUnreachable;
  }
  if (reply.status >= 300) {
    std::cerr << "error: " << reply.error << "\n";
    return kExitServer;
  }
  if (command == "devices add" && !o.token_out.empty()) {
    const std::string text = reply.body.value("token", "") + "\n";
    if (auto st = fs::WriteFileAtomic(o.token_out, text, 0600); !st) {
      std::cerr << "error: the device was added but its token could not be written: "
                << st.error().String() << "\n";
      return kExitServer;
    }
  }
  if (o.json_output) {
    std::cout << reply.body.dump(2) << "\n";
  } else {
    call.print(reply.body);
  }
  return kExitOk;
}

}  // namespace

Runner SetupAdmin(CLI::App& app) {
  auto o = std::make_shared<AdminOptions>();
  auto command = std::make_shared<std::string>();
  app.add_option("--url", o->url, "Base URL of ferry-server, e.g. http://fleet.example:8080")
      ->required();
  app.add_option("--token-file", o->token_file, "File holding the operator token")->required();
  app.add_option("--ca-file", o->tls.ca_file,
                 "PEM CA bundle to verify an https server with (default: the system's)")
      ->check(CLI::ExistingFile);
  auto* cert = app.add_option("--cert", o->tls.cert_file,
                              "PEM client certificate, for a server that requires one")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--key", o->tls.key_file, "PEM private key of --cert")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_flag("--json", o->json_output, "Print the server's JSON reply instead of a table");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 done, 1 the server refused or failed, 2 bad command line, 3 server "
      "unreachable.");

  CLI::App* devices = app.add_subcommand("devices", "Provision and manage devices");
  devices->require_subcommand(1);
  CLI::App* deploy = app.add_subcommand("deploy", "Create and steer deployments");
  deploy->require_subcommand(1);
  const auto sub = [&](CLI::App* parent, const std::string& name, const std::string& help) {
    CLI::App* s = parent->add_subcommand(name, help);
    s->callback([command, full = parent->get_name() + " " + name] { *command = full; });
    return s;
  };

  auto* add = sub(devices, "add", "Add a device; prints its token once");
  add->add_option("id", o->device_id, "Device id")->required();
  add->add_option("--tag", o->tags, "Tag (repeatable)");
  add->add_option("--token-out", o->token_out, "Also write the token to this file (mode 0600)");
  auto* list = sub(devices, "list", "List devices");
  list->add_option("--tag", o->tags, "Only devices with this tag")->expected(0, 1);
  auto* show = sub(devices, "show", "Show a device: inventory, assignment, recent events");
  show->add_option("id", o->device_id, "Device id")->required();
  auto* tag = sub(devices, "tag", "Add or remove a device's tags");
  tag->add_option("id", o->device_id, "Device id")->required();
  tag->add_option("--add", o->tags, "Tag to add (repeatable)");
  tag->add_option("--remove", o->remove_tags, "Tag to remove (repeatable)");
  auto* revoke = sub(devices, "revoke", "Revoke a device's token for good");
  revoke->add_option("id", o->device_id, "Device id")->required();

  auto* create = sub(deploy, "create", "Roll out APP VERSION to devices and/or tags");
  create->add_option("--app", o->app, "App name")->required();
  create->add_option("--version", o->version, "Release version (semver)")->required();
  create->add_option("--device", o->devices, "Target device id (repeatable)");
  create->add_option("--tag", o->tags, "Target tag (repeatable)");
  create->add_flag(
      "--downgrade", o->downgrade,
      "Tell devices this release is a downgrade (it must be signed as an allowed one)");
  create->add_flag("--retry-bad", o->retry_bad,
                   "Devices that marked this release bad try it once more (the cause was fixed "
                   "on their side); their history names this deployment");
  sub(deploy, "list", "List deployments");
  for (const char* name : {"status", "resume", "abort", "promote"}) {
    auto* s = sub(deploy, name,
                  std::string(name) == "status"   ? "Show a deployment's progress and failures"
                  : std::string(name) == "resume" ? "Resume a paused deployment"
                  : std::string(name) == "abort"  ? "Stop a deployment for good"
                                                  : "Release the next phase now");
    s->add_option("id", o->deployment, "Deployment id")->required();
  }
  auto* pause = sub(deploy, "pause", "Pause a deployment");
  pause->add_option("id", o->deployment, "Deployment id")->required();
  pause->add_option("--reason", o->reason, "Why (shown in status)");
  auto* revert =
      sub(deploy, "revert", "Abort a deployment and roll its devices back to the previous version");
  revert->add_option("id", o->deployment, "Deployment id")->required();
  revert->add_option("--version", o->version, "Version to go back to (default: the previous one)");
  for (CLI::App* s : {create, revert}) {
    s->add_option("--phases", o->phases, "Cumulative percentages, e.g. 1,10,100 (default 100)");
    s->add_option("--phase-wait", o->phase_wait,
                  "Wait between phases, e.g. 10m (default: advance by promote only)");
    s->add_option("--max-failure-ratio", o->max_failure_ratio,
                  "Failures per phase above which the deployment pauses (default 0.1)")
        ->check(CLI::Range(0.0, 1.0));
  }
  return [o, command] { return Run(*o, *command); };
}

}  // namespace ferry::server
