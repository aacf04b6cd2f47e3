#include "delta_source.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <thread>

#include "ferry/core/unique_fd.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::engine {

struct DeltaSource::State {
  UniqueFd read_fd;
  UniqueFd write_fd;
  std::thread producer;
  std::optional<Status> producer_result;
  std::optional<layers::FdSource> reader;
};

DeltaSource::DeltaSource(std::filesystem::path old_dir, std::filesystem::path delta_path,
                         std::function<bool()> stop_requested)
    : state_(std::make_unique<State>()) {
  int fds[2];
  // A socket pair rather than a pipe: send(MSG_NOSIGNAL) reports a reader that gave up as EPIPE
  // instead of killing ferryd with SIGPIPE.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    state_->producer_result = Fail(ErrnoError("socketpair"));
    return;
  }
  state_->read_fd.Reset(fds[0]);
  state_->write_fd.Reset(fds[1]);
  state_->reader.emplace(state_->read_fd.get());
  State* s = state_.get();
  s->producer = std::thread([s, old_dir = std::move(old_dir), delta_path = std::move(delta_path),
                             stop_requested = std::move(stop_requested)] {
    delta::FunctionSink sink([s](std::span<const std::uint8_t> bytes) -> Status {
      std::size_t done = 0;
      while (done < bytes.size()) {
        const ssize_t n =
            ::send(s->write_fd.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) {
            continue;
          }
          return Fail(ErrnoError("passing the rebuilt layer on"));
        }
        done += static_cast<std::size_t>(n);
      }
      return Ok();
    });
    Status result = delta::ApplyDelta(old_dir, delta_path, sink, stop_requested);
    ::shutdown(s->write_fd.get(), SHUT_WR);
    s->producer_result = std::move(result);
  });
}

DeltaSource::~DeltaSource() {
  if (state_->read_fd.valid()) {
    ::shutdown(state_->read_fd.get(), SHUT_RDWR);  // unblocks a producer still writing
  }
  if (state_->producer.joinable()) {
    state_->producer.join();
  }
}

Result<std::span<const std::byte>> DeltaSource::Next() {
  if (!state_->reader) {
    return Fail(state_->producer_result->error());
  }
  return state_->reader->Next();
}

Status DeltaSource::Finish() {
  if (state_->read_fd.valid()) {
    ::shutdown(state_->read_fd.get(), SHUT_RDWR);
  }
  if (state_->producer.joinable()) {
    state_->producer.join();
  }
  return state_->producer_result.value_or(Ok());
}

}  // namespace ferry::engine
