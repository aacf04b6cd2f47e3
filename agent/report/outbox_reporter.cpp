#include "ferry/report/outbox_reporter.hpp"

#include <nlohmann/json.hpp>

#include "ferry/core/log.hpp"

namespace ferry::report {

void OutboxReporter::SetProgress(const std::string& app, Progress progress) {
  std::lock_guard lock(mu_);
  progress_[app] = std::move(progress);
}

void OutboxReporter::ClearProgress(const std::string& app) {
  std::lock_guard lock(mu_);
  progress_.erase(app);
}

std::map<std::string, Progress> OutboxReporter::InFlight() const {
  std::lock_guard lock(mu_);
  return progress_;
}

Status OutboxReporter::Record(const Event& event) {
  nlohmann::json payload{{"version", event.version}};
  if (!event.revision.empty()) {
    payload["revision"] = event.revision;
  }
  if (!event.reason.empty()) {
    payload["reason"] = event.reason;
  }
  if (!event.deployment.empty()) {
    payload["deployment"] = event.deployment;
  }
  auto seq = store_.AppendEvent(event.kind, event.app, payload.dump());
  if (!seq) {
    return Fail(seq.error());
  }
  log::info("{} {}: {}{}", event.app, event.revision.empty() ? event.version : event.revision,
            event.kind, event.reason.empty() ? "" : " (" + event.reason + ")");
  return Ok();
}

}  // namespace ferry::report
