// A request to stop, made once from any thread and seen by the work in progress: checked
// (cancelled()), waited for (WaitFor), or watched in poll() beside a socket or a child's pipes
// (wait_fd()), so that a blocked step wakes the moment ferryd is asked to stop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "ferry/core/unique_fd.hpp"

namespace ferry {

// Once cancelled, it stays cancelled. Every method is thread-safe.
class CancelToken {
 public:
  CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Waits for `delay` or until cancelled, whichever comes first; returns whether cancelled.
  bool WaitFor(std::chrono::milliseconds delay) const;
  // Readable (POLLIN) from the moment Cancel() is called, for ever; never read it. -1 when the
  // kernel gave no eventfd: then poll with a short timeout and check cancelled().
  int wait_fd() const { return event_.get(); }

 private:
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  UniqueFd event_;
};

}  // namespace ferry
