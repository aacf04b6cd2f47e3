#include "ferry/core/cancel_token.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace ferry {

CancelToken::CancelToken() : event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void CancelToken::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
  if (event_.valid()) {
    const std::uint64_t one = 1;
    (void)::write(event_.get(), &one, sizeof one);
  }
}

bool CancelToken::WaitFor(std::chrono::milliseconds delay) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, delay, [this] { return cancelled(); });
}

}  // namespace ferry
