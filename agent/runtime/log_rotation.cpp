#include "log_rotation.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "ferry/core/unique_fd.hpp"
#include "ferry/layout/layout.hpp"
#include "ferry/runtime/errors.hpp"

namespace ferry::runtime {

Result<bool> RotateLogIfLarge(const std::filesystem::path& log, std::uint64_t max_bytes) {
  const int in = ::open(log.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) {
      return false;
    }
    return Fail(ErrnoError("open " + log.string()));
  }
  const UniqueFd in_closer(in);
  struct stat st {};
  if (::fstat(in, &st) != 0) {
    return Fail(ErrnoError("stat " + log.string()));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size <= max_bytes) {
    return false;
  }
  // Logs are diagnostics, not state: no fsync, a crash may lose the rotated copy.
  const std::filesystem::path rotated = layout::RotatedLogPath(log);
  const std::filesystem::path tmp = log.string() + ".1.tmp";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (out < 0) {
    return Fail(ErrnoError("open " + tmp.string()));
  }
  const UniqueFd out_closer(out);
  auto offset = static_cast<off_t>(size - max_bytes);
  std::array<char, 65536> buf;
  std::uint64_t left = max_bytes;
  while (left > 0) {
    const ssize_t n = ::pread(in, buf.data(), std::min<std::uint64_t>(left, buf.size()), offset);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Fail(ErrnoError("read " + log.string()));
    }
    if (n == 0) {
      break;
    }
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno != EINTR) {
        return Fail(ErrnoError("write " + tmp.string()));
      }
      done += w > 0 ? w : 0;
    }
    offset += n;
    left -= static_cast<std::uint64_t>(n);
  }
  if (::rename(tmp.c_str(), rotated.c_str()) != 0) {
    return Fail(ErrnoError("rename " + tmp.string()));
  }
  if (::truncate(log.c_str(), 0) != 0) {
    return Fail(ErrnoError("truncate " + log.string()));
  }
  return true;
}

}  // namespace ferry::runtime
