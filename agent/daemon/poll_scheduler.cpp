#include "poll_scheduler.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "ferry/core/log.hpp"

namespace ferry::daemon {

namespace asio = boost::asio;

PollScheduler::PollScheduler(Clock& clock, asio::io_context& io, asio::thread_pool& net,
                             FleetAgent& fleet, std::chrono::milliseconds interval,
                             std::string server_url, std::function<void()> after_round)
    : clock_(clock),
      io_(io),
      net_(net),
      fleet_(fleet),
      interval_(interval),
      server_url_(std::move(server_url)),
      after_round_(std::move(after_round)) {}

void PollScheduler::Start() {
  // A device that was off catches up at once.
  Schedule(std::chrono::milliseconds(Jitter(0, std::min<std::int64_t>(2000, interval_.count()))));
}

std::int64_t PollScheduler::Jitter(std::int64_t lo, std::int64_t hi) {
  std::lock_guard lock(rng_mu_);
  return std::uniform_int_distribution<std::int64_t>(lo, std::max(lo, hi))(rng_);
}

void PollScheduler::Schedule(std::chrono::milliseconds delay) {
  clock_.After(delay, [this] {
    asio::post(net_, [this] {
      (void)Round();
      after_round_();
      const auto interval = interval_.count();
      std::chrono::milliseconds next(Jitter(interval * 9 / 10, interval * 11 / 10));
      if (auto wait = fleet_.RetryAfter(); wait && *wait > next) {
        next = std::chrono::duration_cast<std::chrono::milliseconds>(*wait);
      }
      asio::post(io_, [this, next] { Schedule(next); });
    });
  });
}

Result<nlohmann::json> PollScheduler::Round() {
  auto r = fleet_.Round();
  if (!r) {
    log::warn("fleet server {}: {}", server_url_, r.error().message());
  }
  return r;
}

}  // namespace ferry::daemon
