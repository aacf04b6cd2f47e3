#include "ferry/core/asio_clock.hpp"

#include <boost/system/error_code.hpp>

namespace ferry {

AsioClock::~AsioClock() {
  std::lock_guard lock(mu_);
  for (auto& [id, timer] : timers_) {
    timer->cancel();
  }
  timers_.clear();
}

Clock::TimerId AsioClock::After(Duration delay, std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
  TimerId id = 0;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    timers_.emplace(id, timer);
  }
  timer->async_wait([this, id, timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec) {
      return;  // cancelled
    }
    {
      std::lock_guard lock(mu_);
      timers_.erase(id);
    }
    fn();
  });
  return id;
}

void AsioClock::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  if (auto it = timers_.find(id); it != timers_.end()) {
    it->second->cancel();
    timers_.erase(it);
  }
}

}  // namespace ferry
