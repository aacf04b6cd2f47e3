// The Reporter of ferryd: events go to the state database's outbox, from which the fleet agent
// delivers them (agent/daemon/fleet_agent.hpp); progress is kept in memory only, as it means
// nothing after a restart.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "ferry/report/reporter.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::report {

class OutboxReporter final : public Reporter {
 public:
  // `store` must outlive the reporter.
  explicit OutboxReporter(store::StateStore& store) : store_(store) {}

  void SetProgress(const std::string& app, Progress progress) override;
  void ClearProgress(const std::string& app) override;
  std::map<std::string, Progress> InFlight() const override;

  // Appends the event to the outbox as kind, app and a JSON payload: {"version": …} with
  // "revision", "reason" and "deployment" when they are not empty (docs/fleet-api.md, Events),
  // and logs it. The store's error when the append fails.
  Status Record(const Event& event) override;

 private:
  store::StateStore& store_;
  mutable std::mutex mu_;
  std::map<std::string, Progress> progress_;  // guarded by mu_
};

}  // namespace ferry::report
