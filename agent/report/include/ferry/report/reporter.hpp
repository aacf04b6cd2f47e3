// How the modules that update apps say what they are doing: progress for `ferry status` (the
// read side, InFlight) and events for the fleet server (docs/fleet-api.md). The engine, the update
// pipeline, ferryd's fleet agent and its supervisor all write through one Reporter, which ferryd
// builds; none of them keeps another's state.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"

namespace ferry::report {

// What an update is doing right now, for `ferry status`. Every field has an initializer, so that
// a designated initializer names only what it knows (here and in Event).
struct Progress {
  std::string step{};  // downloading, staging, switching, trial, rolling-back
  std::string revision{};
  std::string version{};
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_per_second = 0;  // while downloading
  Clock::TimePoint moved_at{};         // when bytes_done last grew (downloads only)
};

// Something that happened to an app, for the fleet server.
struct Event {
  // downloading, staging, switching, trial, committed, failed, rolled-back, already-installed,
  // restarted (the supervisor's)
  std::string kind{};
  std::string app{};
  std::string revision{};  // empty when there is none yet (downloading) or it is not known
  std::string version{};
  std::string reason{};      // empty when there is nothing to explain
  std::string deployment{};  // the fleet deployment that asked for the install; empty otherwise
};

class Reporter {
 public:
  virtual ~Reporter() = default;

  // Replaces what the update of `app` is doing. From any thread.
  virtual void SetProgress(const std::string& app, Progress progress) = 0;
  // The update of `app` ended: it is no longer in flight. From any thread.
  virtual void ClearProgress(const std::string& app) = 0;
  // Updates in flight, by app: those whose progress was set and not cleared since. From any
  // thread; a copy, so it may be read while the updates go on.
  virtual std::map<std::string, Progress> InFlight() const = 0;

  // Records `event` for the fleet server, to be delivered in order. An error (the store's) when
  // it could not be recorded; the event is then lost, and the caller decides whether that ends
  // what it was doing. From any thread.
  virtual Status Record(const Event& event) = 0;
};

}  // namespace ferry::report
