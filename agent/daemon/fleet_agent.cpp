#include "fleet_agent.hpp"

#include <sys/statvfs.h>

#include <cctype>

#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/fetch/backoff.hpp"
#include "ferry/fetch/http_client.hpp"

namespace ferry::daemon {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kEventBatch = 500;
constexpr std::size_t kMaxReason = 4096;  // the server's limit

std::int64_t UnixSeconds(store::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string Health(store::RevisionState state) {
  switch (state) {
    case store::RevisionState::kCommitted:
      return "healthy";
    case store::RevisionState::kTrial:
      return "on-trial";
    default:
      return std::string(store::ToString(state));
  }
}

// Whether `error` is the network or the server failing to answer: such failures go away by
// themselves and are retried at the next round. Anything else (a bad blob, a release the
// repository lacks or the engine refuses, no space) is reported and backed off.
bool Unreachable(const Error& error) {
  return error.Is(fetch::FetchErrc::kTransport) || error.Is(fetch::FetchErrc::kTimeout) ||
         error.Is(fetch::FetchErrc::kHttpStatus) || error.Is(fetch::FetchErrc::kBadRange) ||
         error.Is(Errc::kUnavailable) || error.Is(Errc::kTimeout);
}

// Whether the outbox already holds this device's answer to deployment `a` (committed,
// already-installed, rolled-back or failed for its version): the server has it, or will, and a
// restarted agent must not overwrite it with another.
bool Answered(store::StateStore& store, const fleetclient::AssignedApp& a) {
  for (const char* kind : {"committed", "already-installed", "rolled-back", "failed"}) {
    auto last = store.LastEvent(a.app, kind);
    if (!last || !*last) {
      continue;
    }
    const Json payload = Json::parse((*last)->payload, nullptr, false);
    if (payload.is_object() && payload.value("deployment", "") == a.deployment &&
        payload.value("version", "") == a.version) {
      return true;
    }
  }
  return false;
}

std::string Truncated(std::string reason) {
  if (reason.size() > kMaxReason) {
    reason.resize(kMaxReason);
  }
  return reason;
}

// The device's answer to deployment `a`: about its version, as the device may have no revision
// of it.
report::Event Answer(std::string kind, const fleetclient::AssignedApp& a, std::string reason) {
  return report::Event{.kind = std::move(kind),
                       .app = a.app,
                       .version = a.version,
                       .reason = std::move(reason),
                       .deployment = a.deployment};
}

}  // namespace

std::string AssignmentKey(const fleetclient::AssignedApp& a) {
  return a.app + "@" + a.version + "#" + a.deployment;
}

FleetAgent::FleetAgent(store::StateStore& store, report::Reporter& reporter,
                       const config::Config& config, const Clock& clock, ClientFactory factory,
                       InstallFn install)
    : store_(store),
      reporter_(reporter),
      config_(config),
      clock_(clock),
      factory_(std::move(factory)),
      install_(std::move(install)) {
  // The backoffs of failed releases outlive ferryd: a restart (or a crash loop of ferryd itself)
  // must not download a failing release again at once, on every device of a fleet at the same
  // time.
  auto saved = store_.ListBackoffs();
  if (!saved) {
    log::warn("reading the backoff of failed releases: {}", saved.error().message());
    return;
  }
  const auto now = clock_.Now();
  const auto wall = clock_.WallNow();
  for (const auto& b : *saved) {
    const auto left = std::max(Clock::Duration(0),
                               std::chrono::duration_cast<Clock::Duration>(b.retry_at - wall));
    backoff_[b.key] = Backoff{b.failures, now + left};
    if (!b.reported.empty()) {
      reported_[b.key] = b.reported;
    }
  }
}

void FleetAgent::SaveBackoff(const std::string& key) {
  auto it = backoff_.find(key);
  if (it == backoff_.end()) {
    return;
  }
  store::ReleaseBackoff b;
  b.key = key;
  b.failures = it->second.failures;
  b.retry_at = clock_.WallNow() + std::chrono::duration_cast<std::chrono::milliseconds>(
                                      it->second.retry_at - clock_.Now());
  if (auto r = reported_.find(key); r != reported_.end()) {
    b.reported = r->second;
  }
  if (auto st = store_.PutBackoff(b); !st) {
    log::warn("{}: keeping its backoff: {}", key, st.error().message());
  }
}

Status FleetAgent::EnsureClient() {
  auto text = fs::ReadFile(config_.device_token_file, 4096);
  if (!text) {
    return Fail(text.error().WithContext("reading the device token"));
  }
  std::string token = *text;
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  if (token.empty()) {
    return Fail(Errc::kInvalidArgument,
                "the device token file " + config_.device_token_file.string() + " is empty");
  }
  if (!client_ || token != token_) {
    client_ = factory_(token);
    token_ = token;
    etag_.clear();
    inventory_sent_.reset();
  }
  return Ok();
}

void FleetAgent::CloseConnection() {
  if (client_) {
    client_->CloseConnection();
  }
}

std::optional<std::chrono::seconds> FleetAgent::RetryAfter() const {
  std::lock_guard lock(mu_);
  return retry_after_;
}

Result<Json> FleetAgent::Round() {
  {
    std::lock_guard lock(mu_);
    retry_after_.reset();
  }
  if (auto st = EnsureClient(); !st) {
    return Fail(st.error());
  }
  auto remember_retry = [&](const Error& e) {
    std::lock_guard lock(mu_);
    retry_after_ = client_->RetryAfter();
    return Fail(e);
  };
  auto delivered = DeliverEvents();
  if (!delivered) {
    return remember_retry(delivered.error());
  }
  auto fetched = client_->GetAssignment(etag_);
  if (!fetched) {
    return remember_retry(fetched.error().WithContext("fetching the assignment"));
  }
  const bool changed = fetched->has_value();
  if (changed) {
    etag_ = (*fetched)->etag;
    assignment_ = std::move(**fetched);
  }
  const auto queued = QueueWanted();
  // QueueWanted may have recorded events (already-installed, a version marked bad here).
  auto more = DeliverEvents();
  if (!more) {
    return remember_retry(more.error());
  }
  auto sent = SendInventory(false);
  if (!sent) {
    return remember_retry(sent.error());
  }
  Json apps = Json::array();
  if (assignment_) {
    for (const auto& a : assignment_->apps) {
      bool running = false;
      if (auto app = store_.GetApp(a.app); app && app->current_revision) {
        auto current = store_.GetRevision(*app->current_revision);
        running = current && current->version == a.version;
      }
      apps.push_back(Json{{"app", a.app},
                          {"version", a.version},
                          {"deployment", a.deployment},
                          {"downgrade", a.downgrade},
                          {"running", running}});
    }
  }
  return Json{{"assignment", apps},
              {"assignment_changed", changed},
              {"queued", queued},
              {"events_delivered", *delivered + *more},
              {"inventory_sent", *sent}};
}

std::vector<std::string> FleetAgent::QueueWanted() {
  std::vector<std::string> queued;
  if (!assignment_) {
    return queued;
  }
  for (const auto& a : assignment_->apps) {
    if (Wanted(a)) {
      queued.push_back(a.app + " " + a.version);
      install_(a);
    }
  }
  return queued;
}

bool FleetAgent::Wanted(const fleetclient::AssignedApp& a) {
  const std::string key = AssignmentKey(a);
  {
    std::lock_guard lock(mu_);
    if (busy_.contains(a.app)) {
      return false;
    }
    if (auto it = backoff_.find(key); it != backoff_.end() && clock_.Now() < it->second.retry_at) {
      return false;
    }
  }
  if (auto app = store_.GetApp(a.app); app && app->current_revision) {
    auto current = store_.GetRevision(*app->current_revision);
    if (current && current->version == a.version) {
      // Nothing to install, but the deployment waits for this device's word: a revert to the
      // version it runs, or a phase waiting on it, completes with it.
      bool first = false;
      {
        std::lock_guard lock(mu_);
        first = settled_.insert(key).second;
      }
      if (first && !Answered(store_, a)) {
        if (auto st = reporter_.Record(Answer("already-installed", a, "")); !st) {
          log::warn("{} {}: recording already-installed: {}", a.app, a.version,
                    st.error().message());
          std::lock_guard lock(mu_);
          settled_.erase(key);
        }
      }
      return false;
    }
  }
  if (auto revs = store_.ListRevisions(a.app)) {
    for (const auto& r : *revs) {
      if (r.version == a.version && r.bad) {
        // The operator asked this deployment to try it once more; once only, so that a release
        // still broken here is not tried at every poll.
        if (a.retry_bad && !r.retried.starts_with(RetriedBy(a))) {
          log::warn("{} {} was marked bad here; deployment {} retries it", a.app, a.version,
                    a.deployment);
          break;
        }
        const std::string reason = "marked bad on this device: " + r.reason;
        bool first = false;
        {
          std::lock_guard lock(mu_);
          first = settled_.insert(key).second;
        }
        if (first && !Answered(store_, a)) {
          log::warn("{} {} is assigned (deployment {}) but was {}", a.app, a.version, a.deployment,
                    reason);
          (void)reporter_.Record(Answer("failed", a, Truncated(reason)));
        }
        return false;
      }
    }
  }
  std::lock_guard lock(mu_);
  busy_.insert(a.app);
  return true;
}

void FleetAgent::BackOff(const std::string& key) {
  Backoff& b = backoff_[key];
  const fetch::BackoffPolicy policy{kRetryFirst, kRetryMax, kRetryFirst};
  const auto delay = fetch::BackoffCeiling(policy, b.failures);
  ++b.failures;
  b.retry_at = clock_.Now() + delay;
}

void FleetAgent::ResetBackoff() {
  std::lock_guard lock(mu_);
  backoff_.clear();
  if (auto st = store_.RemoveBackoff(""); !st) {
    log::warn("forgetting the backoff of failed releases: {}", st.error().message());
  }
}

std::optional<Clock::TimePoint> FleetAgent::RetryAt(const std::string& key) const {
  std::lock_guard lock(mu_);
  if (auto it = backoff_.find(key); it != backoff_.end()) {
    return it->second.retry_at;
  }
  return std::nullopt;
}

void FleetAgent::Finished(const fleetclient::AssignedApp& a,
                          const Result<engine::InstallResult>& result) {
  const std::string key = AssignmentKey(a);
  bool report = false;
  std::string reason;
  std::optional<Clock::TimePoint> retry_at;
  {
    std::lock_guard lock(mu_);
    busy_.erase(a.app);
    if (result) {
      // The engine sent the outcome as its own event.
      switch (result->outcome) {
        case engine::Outcome::kCommitted:
        case engine::Outcome::kAlreadyInstalled:
          backoff_.erase(key);
          reported_.erase(key);
          (void)store_.RemoveBackoff(key);
          settled_.insert(key);
          return;
        case engine::Outcome::kRolledBack:  // marked bad: Wanted never queues it again
          settled_.insert(key);
          return;
        case engine::Outcome::kFailed:
          BackOff(key);
          SaveBackoff(key);
          return;
      }
      return;
    }
    if (result.error().Is(fetch::FetchErrc::kCancelled) || result.error().Is(Errc::kCancelled)) {
      return;  // ferryd is stopping; the next start tries again
    }
    reason = Truncated(result.error().message());
    if (!Unreachable(result.error())) {
      BackOff(key);
      retry_at = backoff_[key].retry_at;
      auto& last = reported_[key];
      report = last != reason;
      last = reason;
      SaveBackoff(key);
    }
  }
  if (retry_at) {
    const auto wait = std::chrono::ceil<std::chrono::seconds>(*retry_at - clock_.Now()).count();
    log::error("{} {} (deployment {}): {}; next attempt in {} s", a.app, a.version, a.deployment,
               reason, wait);
  } else {
    log::warn("{} {} (deployment {}): {}; trying again at the next poll", a.app, a.version,
              a.deployment, reason);
  }
  if (report) {
    if (auto st = reporter_.Record(Answer("failed", a, reason)); !st) {
      log::warn("{} {}: recording the failure: {}", a.app, a.version, st.error().message());
    }
  }
}

Result<std::size_t> FleetAgent::DeliverEvents() {
  std::size_t delivered = 0;
  for (;;) {
    auto pending = store_.PendingEvents(kEventBatch);
    if (!pending) {
      return Fail(pending.error());
    }
    if (pending->empty()) {
      return delivered;
    }
    std::vector<fleetclient::DeviceEvent> batch;
    for (const auto& e : *pending) {
      fleetclient::DeviceEvent out;
      out.sequence = e.sequence;
      out.kind = e.kind;
      out.app = e.app;
      out.time = UnixSeconds(e.created_at);
      const Json payload = Json::parse(e.payload, nullptr, false);
      if (payload.is_object()) {
        out.version = payload.value("version", "");
        out.deployment = payload.value("deployment", "");
        out.reason = payload.value("reason", "");
        if (out.reason.size() > kMaxReason) {
          out.reason.resize(kMaxReason);
        }
      }
      batch.push_back(std::move(out));
    }
    auto highest = client_->PostEvents(batch);
    if (!highest) {
      return Fail(highest.error().WithContext("delivering events"));
    }
    const std::int64_t last = pending->back().sequence;
    if (*highest < last) {
      return Fail(Errc::kCorrupt, "the server acknowledged events up to " +
                                      std::to_string(*highest) + " of " + std::to_string(last));
    }
    if (auto st = store_.MarkDelivered(last); !st) {
      return Fail(st.error());
    }
    delivered += pending->size();
  }
}

Json FleetAgent::InventoryApps() {
  Json apps = Json::array();
  auto list = store_.ListApps();
  if (!list) {
    return apps;
  }
  for (const auto& app : *list) {
    Json entry{{"app", app.name}};
    if (app.current_revision) {
      entry["revision"] = *app.current_revision;
      if (auto rev = store_.GetRevision(*app.current_revision)) {
        entry["version"] = rev->version;
        entry["health"] = Health(rev->state);
      }
    }
    if (app.previous_revision) {
      entry["previous_revision"] = *app.previous_revision;
    }
    if (supervision_ && app.current_revision) {
      entry["supervision"] = supervision_(app.name);
    }
    apps.push_back(entry);
  }
  return apps;
}

Result<bool> FleetAgent::SendInventory(bool force) {
  if (auto st = EnsureClient(); !st) {
    return Fail(st.error());
  }
  Json apps = InventoryApps();
  if (!force && inventory_sent_ && *inventory_sent_ == apps) {
    return false;
  }
  Json inventory{{"agent_version", FERRY_VERSION}, {"apps", apps}};
  struct statvfs vfs {};
  if (::statvfs(config_.state_dir.c_str(), &vfs) == 0) {
    inventory["free_bytes"] = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }
  if (auto st = client_->PutInventory(inventory); !st) {
    return Fail(st.error().WithContext("sending the inventory"));
  }
  inventory_sent_ = std::move(apps);
  return true;
}

}  // namespace ferry::daemon
