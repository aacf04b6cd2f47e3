#include "old_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {

bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") {
      return false;
    }
    start = end + 1;
  }
  return true;
}

Result<UniqueFd> OpenBeneath(int root_fd, std::string_view path) {
  if (!IsSafeRelativePath(path)) {
    return Fail(DeltaErrc::kPathEscape, "old file path '" + std::string(path) + "' is not allowed");
  }
  UniqueFd dir;
  int at = root_fd;
  std::size_t start = 0;
  while (true) {
    std::size_t end = path.find('/', start);
    bool last = end == std::string_view::npos;
    std::string comp(path.substr(start, last ? std::string_view::npos : end - start));
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? 0 : O_DIRECTORY);
    int fd = ::openat(at, comp.c_str(), flags);
    if (fd < 0) {
      int err = errno;
      if (err == ELOOP || (err == ENOTDIR && !last)) {
        return Fail(DeltaErrc::kPathEscape,
                    "old file '" + std::string(path) + "': a symlink is on the way");
      }
      return Fail(DeltaErrc::kOldFileMismatch,
                  "old file '" + std::string(path) + "': " + ErrnoError("open", err).message());
    }
    UniqueFd opened(fd);
    if (last) {
      struct stat st {};
      if (::fstat(opened.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return Fail(DeltaErrc::kOldFileMismatch,
                    "old file '" + std::string(path) + "' is not a regular file");
      }
      return opened;
    }
    dir = std::move(opened);
    at = dir.get();
    start = end + 1;
  }
}

Status PreadExact(int fd, std::uint64_t offset, std::uint8_t* out, std::size_t len,
                  std::string_view what) {
  while (len > 0) {
    ssize_t n = ::pread(fd, out, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Fail(ErrnoError("reading " + std::string(what)));
    }
    if (n == 0) {
      return Fail(DeltaErrc::kOldFileMismatch, std::string(what) + " is shorter than expected");
    }
    out += n;
    len -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return Ok();
}

}  // namespace ferry::delta
