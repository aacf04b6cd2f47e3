#include "ferry/layers/byte_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ferry::layers {

FdSource::FdSource(int fd, std::size_t chunk_size) : fd_(fd), buffer_(chunk_size) {}

Result<std::span<const std::byte>> FdSource::Next() {
  for (;;) {
    const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(ErrnoError("read layer source"));
    }
    return std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n));
  }
}

FileSource::FileSource(const std::filesystem::path& path, std::size_t chunk_size)
    : path_(path),
      fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)),
      open_errno_(fd_.valid() ? 0 : errno),
      inner_(fd_.get(), chunk_size) {}

Result<std::span<const std::byte>> FileSource::Next() {
  if (!fd_.valid()) {
    return Fail(ErrnoError("open " + path_.string(), open_errno_));
  }
  auto chunk = inner_.Next();
  if (!chunk) {
    return Fail(std::move(chunk.error()).WithContext(path_.string()));
  }
  return chunk;
}

Result<std::span<const std::byte>> MemorySource::Next() {
  const std::size_t n = std::min(chunk_size_, data_.size() - offset_);
  auto chunk = data_.subspan(offset_, n);
  offset_ += n;
  return chunk;
}

}  // namespace ferry::layers
