#include "ferry/fetch/blob_fetcher.hpp"

namespace ferry::fetch {

void CancelToken::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

bool CancelToken::WaitFor(std::chrono::milliseconds delay) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, delay, [this] { return cancelled(); });
}

}  // namespace ferry::fetch
