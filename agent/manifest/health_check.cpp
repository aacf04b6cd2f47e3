#include "ferry/manifest/health_check.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <set>

#include "ferry/core/error_category.hpp"

namespace ferry::manifest {
namespace {

using nlohmann::json;
using Seconds = HealthCheck::Seconds;

constexpr double kMaxSeconds = 24 * 3600;
constexpr std::size_t kMaxCommandArgs = 256;
constexpr std::size_t kMaxString = 4096;

std::string Describe(HealthErrc e) {
  switch (e) {
    case HealthErrc::kInvalidConfig:
      return "invalid health check";
  }
  return {};
}

std::unexpected<Error> Invalid(std::string message) {
  return Fail(HealthErrc::kInvalidConfig, std::move(message));
}

Result<Seconds> ReadSeconds(const json& j, const char* key, Seconds fallback, bool allow_zero) {
  if (!j.contains(key)) {
    return fallback;
  }
  const json& v = j[key];
  if (!v.is_number()) {
    return Invalid(std::string(key) + " must be a number of seconds");
  }
  const double s = v.get<double>();
  if (!std::isfinite(s) || s < 0 || (!allow_zero && s == 0) || s > kMaxSeconds) {
    return Invalid(std::string(key) + " out of range (" + v.dump() + ")");
  }
  return Seconds(s);
}

Result<int> ReadInt(const json& j, const char* key, int fallback, int min, int max) {
  if (!j.contains(key)) {
    return fallback;
  }
  const json& v = j[key];
  if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > max) {
    return Invalid(std::string(key) + " must be an integer in " + std::to_string(min) + ".." +
                   std::to_string(max));
  }
  return static_cast<int>(v.get<std::int64_t>());
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Status CheckHost(const std::string& host) {
  if (host != "localhost" && !IsIpLiteral(host)) {
    return Invalid("host \"" + host.substr(0, 64) +
                   "\" must be an IP address or localhost (no name lookups in a trial)");
  }
  return Ok();
}

Status CheckTimes(const HealthCheck& c) {
  if (c.kind == CheckKind::kProcess && c.up > c.deadline) {
    return Invalid("up_s is longer than deadline_s");
  }
  if (c.kind != CheckKind::kProcess && c.start_period >= c.deadline) {
    return Invalid("start_period_s is not shorter than deadline_s");
  }
  if (c.healthy_for >= c.deadline) {
    return Invalid("healthy_for_s is not shorter than deadline_s");
  }
  return Ok();
}

}  // namespace

const std::error_category& HealthCategory() noexcept {
  static const EnumErrorCategory<HealthErrc> category("ferry.health", Describe);
  return category;
}

std::error_code make_error_code(HealthErrc e) noexcept {
  return {static_cast<int>(e), HealthCategory()};
}

const char* KindName(CheckKind kind) {
  switch (kind) {
    case CheckKind::kProcess:
      return "process";
    case CheckKind::kHttp:
      return "http";
    case CheckKind::kTcp:
      return "tcp";
    case CheckKind::kExec:
      return "exec";
  }
  return "unknown";
}

Result<HttpTarget> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return Invalid("url \"" + url.substr(0, 64) + "\" is not plain http:// (https is not probed)");
  }
  if (url.size() > kMaxString) {
    return Invalid("url too long");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Invalid("url holds a space or control character");
    }
  }
  HttpTarget target;
  std::string rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    target.path = rest.substr(slash);
  }
  if (authority.find('@') != std::string::npos) {
    return Invalid("url must not carry credentials");
  }
  std::string port_text;
  if (authority.starts_with("[")) {  // [v6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) {
      return Invalid("url has an unterminated [IPv6] host");
    }
    target.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return Invalid("url has junk after the [IPv6] host");
      }
      port_text = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.find(':');
    target.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (!port_text.empty() || authority.ends_with(":")) {
    int port = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return Invalid("url port \"" + port_text.substr(0, 16) + "\" is not 1..65535");
    }
    target.port = port;
  }
  FERRY_TRY_STATUS(CheckHost(target.host), "url");
  return target;
}

json HealthCheckToJson(const HealthCheck& c) {
  json j{{"kind", KindName(c.kind)},
         {"start_period_s", c.start_period.count()},
         {"interval_s", c.interval.count()},
         {"timeout_s", c.timeout.count()},
         {"successes", c.successes},
         {"failures", c.failures},
         {"deadline_s", c.deadline.count()},
         {"healthy_for_s", c.healthy_for.count()},
         {"probation_s", c.probation.count()},
         {"liveness_interval_s", c.liveness_interval.count()},
         {"liveness_failures", c.liveness_failures}};
  switch (c.kind) {
    case CheckKind::kProcess:
      j["up_s"] = c.up.count();
      break;
    case CheckKind::kHttp:
      j["url"] = c.url;
      j["expect_status"] = json::array({c.status_min, c.status_max});
      break;
    case CheckKind::kTcp:
      j["host"] = c.host;
      j["port"] = c.port;
      break;
    case CheckKind::kExec:
      j["command"] = c.command;
      break;
  }
  return j;
}

Result<HealthCheck> ParseHealthCheck(const json& j) {
  if (!j.is_object()) {
    return Invalid("health check must be a JSON object");
  }
  static const std::set<std::string> kKeys = {"kind",
                                              "url",
                                              "expect_status",
                                              "host",
                                              "port",
                                              "command",
                                              "up_s",
                                              "start_period_s",
                                              "interval_s",
                                              "timeout_s",
                                              "successes",
                                              "failures",
                                              "deadline_s",
                                              "healthy_for_s",
                                              "probation_s",
                                              "liveness_interval_s",
                                              "liveness_failures"};
  for (const auto& [key, value] : j.items()) {
    if (!kKeys.contains(key)) {
      return Invalid("unknown key \"" + key.substr(0, 64) + "\"");
    }
  }
  HealthCheck c;
  const std::string kind =
      j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
  if (kind == "process") {
    c.kind = CheckKind::kProcess;
  } else if (kind == "http") {
    c.kind = CheckKind::kHttp;
  } else if (kind == "tcp") {
    c.kind = CheckKind::kTcp;
  } else if (kind == "exec") {
    c.kind = CheckKind::kExec;
  } else {
    return Invalid("kind must be one of process, http, tcp, exec");
  }

  auto get = [&](auto result, auto& into) -> Status {
    if (!result) {
      return Fail(result.error());
    }
    into = *result;
    return Ok();
  };
  FERRY_TRY_STATUS(get(ReadSeconds(j, "up_s", c.up, false), c.up), "health check");
  FERRY_TRY_STATUS(get(ReadSeconds(j, "start_period_s", c.start_period, true), c.start_period),
                   "health check");
  FERRY_TRY_STATUS(get(ReadSeconds(j, "interval_s", c.interval, false), c.interval),
                   "health check");
  FERRY_TRY_STATUS(get(ReadSeconds(j, "timeout_s", c.timeout, false), c.timeout), "health check");
  FERRY_TRY_STATUS(get(ReadSeconds(j, "deadline_s", c.deadline, false), c.deadline),
                   "health check");
  FERRY_TRY_STATUS(get(ReadInt(j, "successes", c.successes, 1, 1000), c.successes), "health check");
  FERRY_TRY_STATUS(get(ReadInt(j, "failures", c.failures, 0, 1000), c.failures), "health check");
  FERRY_TRY_STATUS(get(ReadSeconds(j, "healthy_for_s", c.healthy_for, true), c.healthy_for),
                   "health check");
  FERRY_TRY_STATUS(get(ReadSeconds(j, "probation_s", c.probation, true), c.probation),
                   "health check");
  FERRY_TRY_STATUS(
      get(ReadSeconds(j, "liveness_interval_s", c.liveness_interval, true), c.liveness_interval),
      "health check");
  FERRY_TRY_STATUS(
      get(ReadInt(j, "liveness_failures", c.liveness_failures, 1, 1000), c.liveness_failures),
      "health check");

  switch (c.kind) {
    case CheckKind::kProcess:
      break;
    case CheckKind::kHttp: {
      if (!j.contains("url") || !j["url"].is_string()) {
        return Invalid("http check needs a url");
      }
      c.url = j["url"].get<std::string>();
      auto target = ParseHttpUrl(c.url);
      if (!target) {
        return Fail(target.error());
      }
      if (j.contains("expect_status")) {
        const json& range = j["expect_status"];
        if (!range.is_array() || range.size() != 2 || !range[0].is_number_integer() ||
            !range[1].is_number_integer()) {
          return Invalid("expect_status must be [lowest, highest]");
        }
        c.status_min = range[0].get<int>();
        c.status_max = range[1].get<int>();
        if (c.status_min < 100 || c.status_max > 599 || c.status_min > c.status_max) {
          return Invalid("expect_status must lie within 100..599, lowest first");
        }
      }
      break;
    }
    case CheckKind::kTcp: {
      if (j.contains("host")) {
        if (!j["host"].is_string()) {
          return Invalid("host must be a string");
        }
        c.host = j["host"].get<std::string>();
      }
      FERRY_TRY_STATUS(CheckHost(c.host), "tcp check");
      if (!j.contains("port")) {
        return Invalid("tcp check needs a port");
      }
      FERRY_TRY_STATUS(get(ReadInt(j, "port", 0, 1, 65535), c.port), "tcp check");
      break;
    }
    case CheckKind::kExec: {
      if (!j.contains("command") || !j["command"].is_array() || j["command"].empty() ||
          j["command"].size() > kMaxCommandArgs) {
        return Invalid("exec check needs a command: a non-empty array of strings");
      }
      for (const auto& arg : j["command"]) {
        if (!arg.is_string() || arg.get<std::string>().size() > kMaxString) {
          return Invalid("exec command arguments must be strings");
        }
        c.command.push_back(arg.get<std::string>());
      }
      if (c.command[0].empty()) {
        return Invalid("exec command is empty");
      }
      break;
    }
  }
  FERRY_TRY_STATUS(CheckTimes(c), "health check");
  return c;
}

Result<HealthCheck> HealthCheckFromImage(const json& hc) {
  if (!hc.is_object()) {
    return Invalid("image Healthcheck must be an object");
  }
  HealthCheck c;
  auto nanos = [&](const char* key, Seconds fallback) -> Result<Seconds> {
    if (!hc.contains(key) || (hc[key].is_number() && hc[key].get<double>() == 0)) {
      return fallback;  // Docker: 0 means "inherit the default"
    }
    if (!hc[key].is_number_integer() || hc[key].get<std::int64_t>() < 0 ||
        hc[key].get<double>() / 1e9 > kMaxSeconds) {
      return Invalid(std::string("image Healthcheck ") + key + " must be nanoseconds");
    }
    return Seconds(hc[key].get<double>() / 1e9);
  };
  const json test = hc.value("Test", json::array());
  if (!test.is_array()) {
    return Invalid("image Healthcheck Test must be an array");
  }
  if (test.empty() || test[0] == "NONE") {
    return c;  // the process check
  }
  for (const auto& arg : test) {
    if (!arg.is_string()) {
      return Invalid("image Healthcheck Test must hold strings");
    }
  }
  const std::string form = test[0].get<std::string>();
  if (form == "CMD" && test.size() >= 2) {
    for (std::size_t i = 1; i < test.size(); ++i) {
      c.command.push_back(test[i].get<std::string>());
    }
  } else if (form == "CMD-SHELL" && test.size() == 2) {
    c.command = {"/bin/sh", "-c", test[1].get<std::string>()};
  } else {
    return Invalid("image Healthcheck Test must start with NONE, CMD or CMD-SHELL");
  }
  c.kind = CheckKind::kExec;
  auto interval = nanos("Interval", Seconds(30));
  auto timeout = nanos("Timeout", Seconds(30));
  auto start = nanos("StartPeriod", Seconds(0));
  if (!interval || !timeout || !start) {
    return Fail(!interval ? interval.error() : !timeout ? timeout.error() : start.error());
  }
  c.interval = *interval;
  c.timeout = *timeout;
  c.start_period = *start;
  int retries = 3;
  if (hc.contains("Retries")) {
    if (!hc["Retries"].is_number_integer() || hc["Retries"].get<std::int64_t>() < 0 ||
        hc["Retries"].get<std::int64_t>() > 1000) {
      return Invalid("image Healthcheck Retries must be 0..1000");
    }
    retries = hc["Retries"].get<int>() == 0 ? 3 : hc["Retries"].get<int>();
  }
  c.failures = retries;
  c.successes = 1;
  c.deadline = std::max(Seconds(30), c.start_period + (retries + 1) * (c.interval + c.timeout));
  return c;
}

}  // namespace ferry::manifest
