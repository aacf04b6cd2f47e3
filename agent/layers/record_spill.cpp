#include "ferry/layers/record_spill.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ferry::layers {
namespace {

// Read back in large chunks: a read per record would be a syscall per directory or whiteout.
constexpr std::size_t kReadBytes = 1u << 20;

// Visits the complete records at the start of `data`; `*consumed` is how many bytes they took.
Status VisitRecords(std::string_view data, std::size_t* consumed,
                    const std::function<Status(std::string_view)>& visit) {
  std::size_t pos = 0;
  while (data.size() - pos >= sizeof(std::uint32_t)) {
    std::uint32_t length = 0;
    std::memcpy(&length, data.data() + pos, sizeof length);
    if (data.size() - pos - sizeof length < length) {
      break;
    }
    if (auto st = visit(data.substr(pos + sizeof length, length)); !st) {
      return st;
    }
    pos += sizeof length + length;
  }
  *consumed = pos;
  return Ok();
}

}  // namespace

Status RecordSpill::Append(std::string_view record) {
  const auto length = static_cast<std::uint32_t>(record.size());
  buffer_.append(reinterpret_cast<const char*>(&length), sizeof length);
  buffer_ += record;
  ++count_;
  if (buffer_.size() < kInMemoryBytes || file_unavailable_) {
    return Ok();
  }
  return Flush();
}

Status RecordSpill::Flush() {
  if (!file_.valid()) {
    file_.Reset(::openat(dir_fd_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!file_.valid()) {
      // Old kernels and some filesystems: memory it is.
      file_unavailable_ = true;
      return Ok();
    }
  }
  const char* p = buffer_.data();
  std::size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(file_.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(ErrnoError("write " + what_));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  file_bytes_ += buffer_.size();
  buffer_.clear();
  return Ok();
}

Status RecordSpill::ForEach(const std::function<Status(std::string_view)>& visit) const {
  std::string chunk;  // the unvisited tail of the last read, then the next read
  std::uint64_t offset = 0;
  while (offset < file_bytes_) {
    const std::size_t kept = chunk.size();
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kReadBytes, file_bytes_ - offset));
    chunk.resize(kept + want);
    std::size_t done = 0;
    while (done < want) {
      const ssize_t n = ::pread(file_.get(), chunk.data() + kept + done, want - done,
                                static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return Fail(ErrnoError("read " + what_));
      }
      if (n == 0) {
        return Fail(Errc::kCorrupt, what_ + " is shorter than written");
      }
      done += static_cast<std::size_t>(n);
    }
    offset += want;
    std::size_t consumed = 0;
    if (auto st = VisitRecords(chunk, &consumed, visit); !st) {
      return st;
    }
    chunk.erase(0, consumed);
  }
  if (!chunk.empty()) {
    return Fail(Errc::kCorrupt, what_ + " ends inside a record");
  }
  std::size_t consumed = 0;
  if (auto st = VisitRecords(buffer_, &consumed, visit); !st) {
    return st;
  }
  if (consumed != buffer_.size()) {
    return Fail(Errc::kCorrupt, what_ + " ends inside a record");
  }
  return Ok();
}

void RecordSpill::Clear() {
  buffer_.clear();
  buffer_.shrink_to_fit();
  file_.Reset();
  file_bytes_ = 0;
  count_ = 0;
}

}  // namespace ferry::layers
