#include "spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

constexpr std::size_t kBuffer = 1u << 20;

}  // namespace

Result<Spool> Spool::Create(const std::filesystem::path& dir) {
  const std::string where = dir.empty() ? std::string(".") : dir.string();
  Spool spool;
  spool.fd_.Reset(::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!spool.fd_.valid()) {
    // Filesystems without O_TMPFILE: a named file, unlinked before anything is written to it.
    std::string name = where + "/.ferry-delta-spool.XXXXXX";
    spool.fd_.Reset(::mkostemp(name.data(), O_CLOEXEC));
    if (!spool.fd_.valid()) {
      return Fail(ErrnoError("creating a temp file in " + where));
    }
    ::unlink(name.c_str());
  }
  spool.buf_.reserve(kBuffer);
  return spool;
}

Status Spool::Append(std::string_view bytes) {
  size_ += bytes.size();
  if (buf_.size() + bytes.size() <= kBuffer) {
    buf_ += bytes;
    return Ok();
  }
  FERRY_TRY_STATUS(Flush(), "spooling");
  if (bytes.size() < kBuffer) {
    buf_ += bytes;
    return Ok();
  }
  return WriteAll(bytes);
}

Status Spool::Flush() {
  if (auto st = WriteAll(buf_); !st) {
    return st;
  }
  buf_.clear();
  return Ok();
}

Status Spool::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return Fail(ErrnoError("writing a temp file"));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok();
}

Status Spool::ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd_.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return Fail(ErrnoError("reading a temp file"));
    }
    done += static_cast<std::size_t>(n);
  }
  return Ok();
}

}  // namespace ferry::delta
