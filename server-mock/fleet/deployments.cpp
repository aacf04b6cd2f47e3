// Deployments: creation with deterministic phases, operator transitions, and Reconcile (phase
// waits, automatic pause on failures, completion).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "ferry/fleet/fleet.hpp"
#include "ferry/manifest/semver.hpp"
#include "fleet_impl.hpp"

namespace ferry::fleet {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 6> kStates = {"pending",   "downloading", "installing",
                                                     "committed", "failed",      "rolled-back"};

Status ValidatePhases(const std::vector<int>& phases) {
  if (phases.empty() || phases.size() > 10) {
    return Fail(FleetErrc::kBadRequest, "phases: 1 to 10 percentages");
  }
  for (std::size_t i = 0; i < phases.size(); ++i) {
    if (phases[i] < 1 || phases[i] > 100 || (i > 0 && phases[i] <= phases[i - 1])) {
      return Fail(FleetErrc::kBadRequest,
                  "phases: cumulative percentages, ascending, each 1 to 100");
    }
  }
  if (phases.back() != 100) {
    return Fail(FleetErrc::kBadRequest, "phases: the last phase must be 100");
  }
  return Ok();
}

Status ValidateSpec(const DeploymentSpec& spec) {
  if (!ValidAppName(spec.app)) {
    return Fail(FleetErrc::kBadRequest, "bad app name " + Quote(spec.app));
  }
  if (auto v = manifest::ParseSemVer(spec.version); !v) {
    return Fail(FleetErrc::kBadRequest,
                "bad version " + Quote(spec.version) + ": " + v.error().message());
  }
  if (spec.devices.empty() && spec.tags.empty()) {
    return Fail(FleetErrc::kBadRequest, "a deployment targets device ids and/or tags");
  }
  if (spec.devices.size() > 100000 || spec.tags.size() > 64) {
    return Fail(FleetErrc::kBadRequest, "too many target devices or tags");
  }
  for (const auto& id : spec.devices) {
    if (!ValidDeviceId(id)) {
      return Fail(FleetErrc::kBadRequest, "bad device id " + Quote(id));
    }
  }
  for (const auto& tag : spec.tags) {
    if (!ValidTag(tag)) {
      return Fail(FleetErrc::kBadRequest, "bad tag " + Quote(tag));
    }
  }
  if (auto st = ValidatePhases(spec.phases); !st) {
    return st;
  }
  if (!(spec.max_failure_ratio >= 0.0 && spec.max_failure_ratio <= 1.0)) {
    return Fail(FleetErrc::kBadRequest, "max_failure_ratio must be within 0 and 1");
  }
  if (spec.phase_wait &&
      (spec.phase_wait->count() < 0 || spec.phase_wait->count() > 90 * 24 * 3600)) {
    return Fail(FleetErrc::kBadRequest, "phase_wait must be within 0 s and 90 days");
  }
  return Ok();
}

template <class F>
Status EachRow(Statement& stmt, F&& f) {
  for (;;) {
    auto r = stmt.Step();
    if (!r) {
      return Fail(r.error());
    }
    if (!*r) {
      return Ok();
    }
    f(stmt);
  }
}

std::string FormatRatio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", r);
  return buf;
}

}  // namespace

Result<std::string> Fleet::Impl::CreateLocked(const DeploymentSpec& spec,
                                              std::string_view reverts) {
  FERRY_TRY_STATUS(ValidateSpec(spec), "deployment");
  if (release_check) {
    const std::string version = manifest::ParseSemVer(spec.version)->String();
    FERRY_TRY_STATUS(release_check(spec.app, version), "deployment");
  }
  // Resolve the targets now: later tag changes do not move devices in or out.
  std::set<std::string> targets;
  for (const auto& id : spec.devices) {
    auto stmt = db.QueryRow("SELECT revoked_at IS NULL FROM devices WHERE id = ?1", id);
    if (!stmt) {
      return Fail(stmt.error());
    }
    if (!*stmt) {
      return Fail(FleetErrc::kBadRequest, "no device " + Quote(id));
    }
    if ((*stmt)->Int(0) != 0) {
      targets.insert(id);
    }
  }
  for (const auto& tag : spec.tags) {
    auto stmt = db.Prepare(
        "SELECT t.device_id FROM device_tags t JOIN devices d ON d.id = t.device_id "
        "WHERE t.tag = ?1 AND d.revoked_at IS NULL");
    if (!stmt) {
      return Fail(stmt.error());
    }
    stmt->Bind(1, tag);
    FERRY_TRY_STATUS(EachRow(*stmt, [&](Statement& s) { targets.insert(s.Text(0)); }),
                     "resolving tags");
  }
  if (targets.empty()) {
    return Fail(FleetErrc::kBadRequest, "the deployment's targets match no (unrevoked) device");
  }
  auto next = db.QueryInt("SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments");
  if (!next) {
    return Fail(next.error());
  }
  const std::string id = "d-" + std::to_string(*next);
  const std::int64_t now = Now();
  const json target_json = {{"devices", spec.devices}, {"tags", spec.tags}};
  auto insert = db.Prepare(
      "INSERT INTO deployments(seq, id, app, version, downgrade, state, phases, phase_wait, "
      "max_failure_ratio, targets, reverts, created_at, phase_started_at, updated_at, retry_bad) "
      "VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?11, ?12)");
  if (!insert) {
    return Fail(insert.error());
  }
  insert->Bind(1, *next).Bind(2, id).Bind(3, spec.app).Bind(4, spec.version);
  insert->Bind(5, std::int64_t{spec.downgrade ? 1 : 0}).Bind(6, json(spec.phases).dump());
  if (spec.phase_wait) {
    insert->Bind(7, static_cast<std::int64_t>(spec.phase_wait->count()));
  } else {
    insert->BindNull(7);
  }
  insert->BindDouble(8, spec.max_failure_ratio).Bind(9, target_json.dump()).Bind(10, reverts);
  insert->Bind(12, std::int64_t{spec.retry_bad ? 1 : 0});
  insert->Bind(11, now);
  FERRY_TRY_STATUS(insert->Run(), "creating deployment");

  // A device's place in the order depends only on the deployment id and its own id: stable
  // whatever else is in the fleet, and different from one deployment to the next.
  std::vector<std::pair<std::string, std::string>> order;
  order.reserve(targets.size());
  for (const auto& device : targets) {
    order.emplace_back(Sha256Hex(id + "\n" + device), device);
  }
  std::sort(order.begin(), order.end());
  const auto n = static_cast<std::int64_t>(order.size());
  std::size_t phase = 0;
  for (std::int64_t rank = 0; rank < n; ++rank) {
    while (rank >= (spec.phases[phase] * n + 99) / 100) {
      ++phase;
    }
    auto add = db.Prepare(
        "INSERT INTO deployment_devices(deployment_id, device_id, phase, updated_at) "
        "VALUES (?1, ?2, ?3, ?4)");
    if (!add) {
      return Fail(add.error());
    }
    add->Bind(1, id).Bind(2, order[static_cast<std::size_t>(rank)].second);
    add->Bind(3, static_cast<std::int64_t>(phase)).Bind(4, now);
    FERRY_TRY_STATUS(add->Run(), "assigning phases");
  }
  return id;
}

Result<Deployment> Fleet::Impl::LoadDeployment(std::string_view id) {
  auto stmt = db.QueryRow(
      "SELECT id, app, version, downgrade, state, phases, current_phase, phase_wait, "
      "max_failure_ratio, targets, reverts, pause_reason, created_at, phase_started_at, retry_bad "
      "FROM deployments WHERE id = ?1",
      id);
  if (!stmt) {
    return Fail(stmt.error());
  }
  if (!*stmt) {
    return Fail(FleetErrc::kNotFound, "no deployment " + Quote(id));
  }
  const Statement& row = **stmt;
  Deployment d;
  d.id = row.Text(0);
  d.app = row.Text(1);
  d.version = row.Text(2);
  d.downgrade = row.Int(3) != 0;
  d.retry_bad = row.Int(14) != 0;
  d.state = row.Text(4);
  d.phases = json::parse(row.Text(5)).get<std::vector<int>>();
  d.current_phase = static_cast<int>(row.Int(6));
  if (!row.IsNull(7)) {
    d.phase_wait = row.Int(7);
  }
  d.max_failure_ratio = row.Double(8);
  const json targets = json::parse(row.Text(9));
  d.target_devices = targets.at("devices").get<std::vector<std::string>>();
  d.target_tags = targets.at("tags").get<std::vector<std::string>>();
  d.reverts = row.Text(10);
  d.pause_reason = row.Text(11);
  d.created_at = row.Int(12);
  d.phase_started_at = row.Int(13);

  for (auto s : kStates) {
    d.counts[std::string(s)] = 0;
  }
  auto counts = db.Prepare(
      "SELECT state, COUNT(*), SUM(phase <= ?2) FROM deployment_devices WHERE deployment_id = ?1 "
      "GROUP BY state");
  if (!counts) {
    return Fail(counts.error());
  }
  counts->Bind(1, id).Bind(2, std::int64_t{d.current_phase});
  FERRY_TRY_STATUS(EachRow(*counts,
                           [&](Statement& s) {
                             d.targeted += s.Int(1);
                             d.released += s.Int(2);
                             d.counts[s.Text(0)] += s.Int(2);
                           }),
                   "counting devices");
  auto failures = db.Prepare(
      "SELECT device_id, state, reason FROM deployment_devices WHERE deployment_id = ?1 "
      "AND state IN ('failed', 'rolled-back') ORDER BY device_id LIMIT 100");
  if (!failures) {
    return Fail(failures.error());
  }
  failures->Bind(1, id);
  FERRY_TRY_STATUS(EachRow(*failures,
                           [&](Statement& s) {
                             d.failures.push_back({s.Text(0), s.Text(1), s.Text(2)});
                           }),
                   "listing failures");
  return d;
}

Status Fleet::Impl::ReconcileLocked() {
  auto active = db.Prepare("SELECT id FROM deployments WHERE state = 'active' ORDER BY seq");
  if (!active) {
    return Fail(active.error());
  }
  std::vector<std::string> ids;
  FERRY_TRY_STATUS(EachRow(*active, [&](Statement& s) { ids.push_back(s.Text(0)); }),
                   "listing active deployments");
  const std::int64_t now = Now();
  for (const auto& id : ids) {
    auto info = db.QueryRow(
        "SELECT phases, current_phase, checked_from_phase, phase_wait, max_failure_ratio, "
        "phase_started_at FROM deployments WHERE id = ?1",
        id);
    if (!info) {
      return Fail(info.error());
    }
    if (!*info) {
      continue;
    }
    const Statement& row = **info;
    const auto phases = json::parse(row.Text(0)).get<std::vector<int>>();
    const std::int64_t current = row.Int(1);
    const std::int64_t checked_from = row.Int(2);
    // A flag and a plain value, not std::optional: GCC 12 at -O2 (the release preset) reports the
    // optional's payload as maybe-uninitialized below, and warnings are errors.
    const bool has_wait = !row.IsNull(3);
    const std::int64_t wait = has_wait ? row.Int(3) : 0;
    const double max_ratio = row.Double(4);
    const std::int64_t phase_started = row.Int(5);

    struct PhaseCount {
      std::int64_t total = 0, failed = 0, done = 0;
    };
    std::map<std::int64_t, PhaseCount> per_phase;
    // A revoked device will never report again: it no longer holds its phase back.
    auto counts = db.Prepare(
        "SELECT phase, COUNT(*), SUM(state IN ('failed', 'rolled-back')), "
        "SUM(state IN ('committed', 'failed', 'rolled-back') OR device_id IN "
        "(SELECT id FROM devices WHERE revoked_at IS NOT NULL)) FROM deployment_devices "
        "WHERE deployment_id = ?1 AND phase <= ?2 GROUP BY phase");
    if (!counts) {
      return Fail(counts.error());
    }
    counts->Bind(1, id).Bind(2, current);
    FERRY_TRY_STATUS(EachRow(*counts,
                             [&](Statement& s) {
                               per_phase[s.Int(0)] = {s.Int(1), s.Int(2), s.Int(3)};
                             }),
                     "counting phase states");

    std::string pause_reason;
    for (const auto& [phase, c] : per_phase) {
      if (phase < checked_from || c.total == 0) {
        continue;
      }
      const double ratio = static_cast<double>(c.failed) / static_cast<double>(c.total);
      if (ratio > max_ratio) {
        pause_reason = "phase " + std::to_string(phase + 1) + ": " + std::to_string(c.failed) +
                       " of " + std::to_string(c.total) + " devices failed (ratio " +
                       FormatRatio(ratio) + " > max " + FormatRatio(max_ratio) + ")";
        break;
      }
    }
    std::optional<Statement> update;
    if (!pause_reason.empty()) {
      auto s = db.Prepare(
          "UPDATE deployments SET state = 'paused', pause_reason = ?2, updated_at = ?3 "
          "WHERE id = ?1");
      if (!s) {
        return Fail(s.error());
      }
      s->Bind(1, id).Bind(2, pause_reason).Bind(3, now);
      update.emplace(std::move(*s));
    } else {
      const PhaseCount cur = per_phase.contains(current) ? per_phase[current] : PhaseCount{};
      const bool current_done = cur.done == cur.total;
      const bool last = current + 1 >= static_cast<std::int64_t>(phases.size());
      if (last) {
        bool all_done = true;
        for (const auto& [phase, c] : per_phase) {
          all_done = all_done && c.done == c.total;
        }
        if (all_done) {
          auto s = db.Prepare(
              "UPDATE deployments SET state = 'completed', updated_at = ?2 WHERE id = ?1");
          if (!s) {
            return Fail(s.error());
          }
          s->Bind(1, id).Bind(2, now);
          update.emplace(std::move(*s));
        }
      } else if (has_wait && current_done && now >= phase_started + wait) {
        auto s = db.Prepare(
            "UPDATE deployments SET current_phase = current_phase + 1, phase_started_at = ?2, "
            "updated_at = ?2 WHERE id = ?1");
        if (!s) {
          return Fail(s.error());
        }
        s->Bind(1, id).Bind(2, now);
        update.emplace(std::move(*s));
      }
    }
    if (update) {
      FERRY_TRY_STATUS(update->Run(), "updating deployment " + id);
    }
  }
  return Ok();
}

Result<Deployment> Fleet::Impl::Transition(std::string_view id, std::string_view action,
                                           std::string_view reason) {
  auto tx = Transaction::Begin(db);
  if (!tx) {
    return Fail(tx.error());
  }
  auto d = LoadDeployment(id);
  if (!d) {
    return Fail(d.error());
  }
  const std::int64_t now = Now();
  std::string sql;
  if (action == "pause") {
    if (d->state != "active") {
      return Fail(FleetErrc::kConflict, d->id + " is " + d->state + ", not active");
    }
    sql =
        "UPDATE deployments SET state = 'paused', pause_reason = ?2, updated_at = ?3 WHERE id = ?1";
  } else if (action == "resume") {
    if (d->state != "paused") {
      return Fail(FleetErrc::kConflict, d->id + " is " + d->state + ", not paused");
    }
    sql =
        "UPDATE deployments SET state = 'active', pause_reason = '', "
        "checked_from_phase = current_phase + 1, updated_at = ?3 WHERE id = ?1 AND ?2 = ?2";
  } else if (action == "abort") {
    if (d->state != "active" && d->state != "paused") {
      return Fail(FleetErrc::kConflict, d->id + " is " + d->state + " already");
    }
    sql =
        "UPDATE deployments SET state = 'aborted', pause_reason = ?2, updated_at = ?3 "
        "WHERE id = ?1";
  } else {  // promote
    if (d->state != "active") {
      return Fail(FleetErrc::kConflict, d->id + " is " + d->state +
                                            "; only an active deployment "
                                            "can be promoted");
    }
    if (d->current_phase + 1 >= static_cast<int>(d->phases.size())) {
      return Fail(FleetErrc::kConflict, d->id + " is in its last phase already");
    }
    sql =
        "UPDATE deployments SET current_phase = current_phase + 1, phase_started_at = ?3, "
        "updated_at = ?3 WHERE id = ?1 AND ?2 = ?2";
  }
  FERRY_TRY_STATUS(db.Execute(sql, id, reason, now), std::string(action) + " " + d->id);
  FERRY_TRY_STATUS(tx->Commit(), std::string(action) + " " + d->id);
  FERRY_TRY_STATUS(ReconcileLocked(), "reconciling deployments");
  return LoadDeployment(id);
}

void Fleet::SetReleaseCheck(ReleaseCheck check) {
  std::lock_guard lock(impl_->mu);
  impl_->release_check = std::move(check);
}

Result<Deployment> Fleet::CreateDeployment(const DeploymentSpec& spec) {
  std::lock_guard lock(impl_->mu);
  auto tx = Transaction::Begin(impl_->db);
  if (!tx) {
    return Fail(tx.error());
  }
  auto id = impl_->CreateLocked(spec, "");
  if (!id) {
    return Fail(id.error());
  }
  FERRY_TRY_STATUS(tx->Commit(), "creating deployment");
  return impl_->LoadDeployment(*id);
}

Result<std::vector<Deployment>> Fleet::ListDeployments() {
  std::lock_guard lock(impl_->mu);
  auto stmt = impl_->db.Prepare("SELECT id FROM deployments ORDER BY seq DESC");
  if (!stmt) {
    return Fail(stmt.error());
  }
  std::vector<std::string> ids;
  FERRY_TRY_STATUS(EachRow(*stmt, [&](Statement& s) { ids.push_back(s.Text(0)); }),
                   "listing deployments");
  std::vector<Deployment> out;
  for (const auto& id : ids) {
    auto d = impl_->LoadDeployment(id);
    if (!d) {
      return Fail(d.error());
    }
    out.push_back(std::move(*d));
  }
  return out;
}

Result<Deployment> Fleet::GetDeployment(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  return impl_->LoadDeployment(id);
}

Result<Deployment> Fleet::Pause(std::string_view id, std::string_view reason) {
  std::lock_guard lock(impl_->mu);
  return impl_->Transition(id, "pause", reason.empty() ? "paused by the operator" : reason);
}

Result<Deployment> Fleet::Resume(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  return impl_->Transition(id, "resume", "");
}

Result<Deployment> Fleet::Abort(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  return impl_->Transition(id, "abort", "aborted by the operator");
}

Result<Deployment> Fleet::Promote(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  return impl_->Transition(id, "promote", "");
}

Result<Deployment> Fleet::Revert(std::string_view id, std::optional<std::string> version,
                                 std::vector<int> phases,
                                 std::optional<std::chrono::seconds> phase_wait,
                                 double max_failure_ratio) {
  std::lock_guard lock(impl_->mu);
  auto& db = impl_->db;
  auto tx = Transaction::Begin(db);
  if (!tx) {
    return Fail(tx.error());
  }
  auto d = impl_->LoadDeployment(id);
  if (!d) {
    return Fail(d.error());
  }
  auto reverted = manifest::ParseSemVer(d->version);
  if (!reverted) {
    return Fail(reverted.error());
  }
  std::string target_version;
  if (version) {
    auto v = manifest::ParseSemVer(*version);
    if (!v) {
      return Fail(FleetErrc::kBadRequest, "bad version " + Quote(*version));
    }
    if (!(*v < *reverted)) {
      return Fail(FleetErrc::kBadRequest,
                  "a revert goes to a version below " + d->version + ", not " + *version);
    }
    target_version = *version;
  } else {
    // The highest version below the reverted one that an earlier deployment of the app shipped.
    auto earlier = db.Prepare(
        "SELECT DISTINCT version FROM deployments WHERE app = ?1 AND seq < "
        "(SELECT seq FROM deployments WHERE id = ?2)");
    if (!earlier) {
      return Fail(earlier.error());
    }
    earlier->Bind(1, d->app).Bind(2, id);
    std::optional<manifest::SemVer> best;
    FERRY_TRY_STATUS(EachRow(*earlier,
                             [&](Statement& s) {
                               auto v = manifest::ParseSemVer(s.Text(0));
                               if (v && *v < *reverted && (!best || *best < *v)) {
                                 best = *v;
                                 target_version = s.Text(0);
                               }
                             }),
                     "finding the previous version");
    if (!best) {
      return Fail(FleetErrc::kConflict, "no earlier version of " + d->app + " than " + d->version +
                                            " was deployed; name one");
    }
  }
  DeploymentSpec spec;
  spec.app = d->app;
  spec.version = target_version;
  spec.phases = phases.empty() ? std::vector<int>{100} : std::move(phases);
  spec.phase_wait = phase_wait;
  spec.max_failure_ratio = max_failure_ratio;
  spec.downgrade = true;
  auto released = db.Prepare(
      "SELECT dd.device_id FROM deployment_devices dd JOIN devices v ON v.id = dd.device_id "
      "WHERE dd.deployment_id = ?1 AND dd.phase <= ?2 AND v.revoked_at IS NULL "
      "ORDER BY dd.device_id");
  if (!released) {
    return Fail(released.error());
  }
  released->Bind(1, id).Bind(2, std::int64_t{d->current_phase});
  FERRY_TRY_STATUS(EachRow(*released, [&](Statement& s) { spec.devices.push_back(s.Text(0)); }),
                   "listing released devices");
  if (d->state == "active" || d->state == "paused") {
    FERRY_TRY_STATUS(
        db.Execute("UPDATE deployments SET state = 'aborted', pause_reason = ?2, updated_at = ?3 "
                   "WHERE id = ?1",
                   id, "reverted", impl_->Now()),
        "aborting " + d->id);
  }
  auto created = impl_->CreateLocked(spec, id);
  if (!created) {
    return Fail(created.error());
  }
  FERRY_TRY_STATUS(tx->Commit(), "reverting " + d->id);
  return impl_->LoadDeployment(*created);
}

}  // namespace ferry::fleet
