// When ferryd asks the fleet server for work: soon after start (jittered, so that a fleet powered
// up together does not arrive together), then every poll interval ±10%, or later when the server
// asks for it (Retry-After). Each poll runs on the network thread, never on the event loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "fleet_agent.hpp"

namespace ferry::daemon {

class PollScheduler {
 public:
  // Every reference must outlive the scheduler. Timers are armed on `clock` (driven by `io`),
  // polls run on `net`, and so does `after_round` after each scheduled poll (to give back what
  // the poll used).
  PollScheduler(Clock& clock, boost::asio::io_context& io, boost::asio::thread_pool& net,
                FleetAgent& fleet, std::chrono::milliseconds interval, std::string server_url,
                std::function<void()> after_round);

  // Arms the first poll. Call once, on the event loop.
  void Start();

  // One poll now, on the caller's thread (the network thread): a failure is logged and returned.
  Result<nlohmann::json> Round();

 private:
  void Schedule(std::chrono::milliseconds delay);
  std::int64_t Jitter(std::int64_t lo, std::int64_t hi);

  Clock& clock_;
  boost::asio::io_context& io_;
  boost::asio::thread_pool& net_;
  FleetAgent& fleet_;
  std::chrono::milliseconds interval_;
  std::string server_url_;
  std::function<void()> after_round_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace ferry::daemon
