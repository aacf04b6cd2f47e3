// How a revision proves it is healthy during its trial: the health check a release manifest
// carries, as JSON, e.g.
//   {"kind":"http","url":"http://127.0.0.1:8080/","expect_status":[200,399],"start_period_s":2,
//    "interval_s":1,"timeout_s":2,"successes":2,"deadline_s":30}
// Also: healthy_for_s (the trial), probation_s, liveness_interval_s, liveness_failures (after it).
// Kinds: "process" (the container stays up `up_s` seconds), "http" (GET answers with a status in
// expect_status), "tcp" (a connection to host:port is accepted), "exec" (a command run inside
// the container exits 0). Every kind also fails at once when the container exits or restarts.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::manifest {

enum class HealthErrc {
  kInvalidConfig = 1,  // a health check in a manifest or image config is malformed
};

const std::error_category& HealthCategory() noexcept;
std::error_code make_error_code(HealthErrc e) noexcept;  // NOLINT(readability-identifier-naming)

enum class CheckKind { kProcess, kHttp, kTcp, kExec };

struct HealthCheck {
  using Seconds = std::chrono::duration<double>;

  CheckKind kind = CheckKind::kProcess;
  // http: only plain http:// to an IP literal or localhost (the app runs on this device).
  std::string url;
  int status_min = 200;
  int status_max = 399;
  // tcp
  std::string host = "127.0.0.1";
  int port = 0;
  // exec: argv run inside the container
  std::vector<std::string> command;

  Seconds up{5};            // process: how long the container must stay up
  Seconds start_period{0};  // probe failures in this first period do not count
  Seconds interval{1};      // from the end of one probe to the start of the next
  Seconds timeout{2};       // per probe
  int successes = 1;        // consecutive successes that pass the trial
  int failures = 0;         // consecutive counted failures that fail it early; 0: deadline only
  Seconds deadline{30};     // the trial fails when it has not passed by then
  // The trial passes only once the app has also been continuously healthy this long (probes
  // passing since the first success of the current streak; for process, up this long).
  Seconds healthy_for{0};

  // Life after the commit (docs/operations.md, Probation and liveness).
  // A crash loop or sustained unhealthiness this long after the commit rolls the revision back
  // and marks it bad, like a failed trial; 0: no probation.
  Seconds probation{300};
  // The probe keeps running at this interval after the commit; 0: no liveness probing.
  Seconds liveness_interval{30};
  // Consecutive liveness failures that restart the container (or, in probation, roll it back).
  int liveness_failures = 3;
};

const char* KindName(CheckKind kind);

// Parses and checks a health check object; unknown keys are refused, so a misspelt field in a
// signed manifest is an error at publish time, not a silently ignored check.
Result<HealthCheck> ParseHealthCheck(const nlohmann::json& json);

// The manifest JSON of a check, in the form ParseHealthCheck reads (ParseHealthCheck(ToJson(c))
// gives c back). ferry-publish writes image health checks with it.
nlohmann::json HealthCheckToJson(const HealthCheck& check);

// Maps an OCI/Docker image config "Healthcheck" object ({"Test":["CMD",…] or ["CMD-SHELL","…"],
// "Interval", "Timeout", "StartPeriod" in nanoseconds, "Retries"}) to an exec check; "NONE" or an
// empty test gives the process check. Deadline: start period + (retries + 1) × (interval +
// timeout), at least 30 s.
Result<HealthCheck> HealthCheckFromImage(const nlohmann::json& healthcheck);

// The host, port and path of an http check's URL.
struct HttpTarget {
  std::string host;
  int port = 80;
  std::string path = "/";
};
Result<HttpTarget> ParseHttpUrl(const std::string& url);

}  // namespace ferry::manifest

template <>
struct std::is_error_code_enum<ferry::manifest::HealthErrc> : std::true_type {};
