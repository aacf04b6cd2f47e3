#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "ferry/layers/byte_source.hpp"

namespace ferry::layers {

struct ReadAheadSource::State {
  struct Buffer {
    std::vector<std::byte> bytes;
    std::size_t size = 0;
  };

  ByteSource* inner = nullptr;
  std::vector<Buffer> buffers;
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::size_t> free;     // buffers the worker may fill
  std::deque<std::size_t> ready;    // filled buffers, in stream order
  std::optional<std::size_t> lent;  // the buffer the consumer holds
  bool finished = false;            // the worker reached the end or an error
  std::optional<Error> error;
  bool stop = false;
  std::thread worker;

  void Run() {
    std::span<const std::byte> pending;  // what is left of the inner source's last chunk
    bool at_end = false;
    while (!at_end) {
      std::size_t index = 0;
      {
        std::unique_lock lock(mu);
        changed.wait(lock, [&] { return stop || !free.empty(); });
        if (stop) {
          return;
        }
        index = free.front();
        free.pop_front();
      }
      Buffer& buffer = buffers[index];
      buffer.size = 0;
      std::optional<Error> failure;
      while (buffer.size < buffer.bytes.size()) {
        if (pending.empty()) {
          auto chunk = inner->Next();
          if (!chunk) {
            failure = std::move(chunk.error());
            break;
          }
          if (chunk->empty()) {
            at_end = true;
            break;
          }
          pending = *chunk;
        }
        const std::size_t n = std::min(pending.size(), buffer.bytes.size() - buffer.size);
        std::memcpy(buffer.bytes.data() + buffer.size, pending.data(), n);
        buffer.size += n;
        pending = pending.subspan(n);
      }
      std::lock_guard lock(mu);
      if (buffer.size > 0) {
        ready.push_back(index);
      } else {
        free.push_back(index);
      }
      if (failure) {
        error = std::move(failure);
        at_end = true;
      }
      finished = at_end;
      changed.notify_all();
    }
  }
};

ReadAheadSource::ReadAheadSource(ByteSource& inner, std::size_t buffers, std::size_t buffer_size)
    : state_(std::make_unique<State>()) {
  state_->inner = &inner;
  state_->buffers.resize(std::max<std::size_t>(buffers, 2));
  for (std::size_t i = 0; i < state_->buffers.size(); ++i) {
    state_->buffers[i].bytes.resize(std::max<std::size_t>(buffer_size, 4096));
    state_->free.push_back(i);
  }
  state_->worker = std::thread([s = state_.get()] { s->Run(); });
}

ReadAheadSource::~ReadAheadSource() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->changed.notify_all();
  state_->worker.join();
}

Result<std::span<const std::byte>> ReadAheadSource::Next() {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  if (s.lent) {
    s.free.push_back(*s.lent);
    s.lent.reset();
    s.changed.notify_all();
  }
  s.changed.wait(lock, [&] { return !s.ready.empty() || s.finished; });
  if (!s.ready.empty()) {
    const std::size_t index = s.ready.front();
    s.ready.pop_front();
    s.lent = index;
    return std::span<const std::byte>(s.buffers[index].bytes.data(), s.buffers[index].size);
  }
  if (s.error) {
    return Fail(*s.error);
  }
  return std::span<const std::byte>();
}

}  // namespace ferry::layers
