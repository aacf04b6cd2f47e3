#include "ferry/core/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "ferry/core/unique_fd.hpp"

namespace ferry::fs {
namespace {

// Closes `fd` now and reports the error, which its destructor cannot.
Status Close(UniqueFd& fd, const stdfs::path& path) {
  if (::close(fd.Release()) != 0) {
    return Fail(ErrnoError("close " + path.string()));
  }
  return Ok();
}

std::string TempSuffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rng() % 1000000);
}

}  // namespace

Status SyncPath(const stdfs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Fail(ErrnoError("open " + path.string() + " for fsync"));
  }
  if (::fsync(fd.get()) != 0) {
    return Fail(ErrnoError("fsync " + path.string()));
  }
  return Close(fd, path);
}

Status SyncParent(const stdfs::path& path) {
  stdfs::path parent = path.parent_path();
  if (parent.empty()) {
    parent = ".";
  }
  return SyncPath(parent);
}

Status WriteFileAtomic(const stdfs::path& path, std::string_view data, unsigned mode) {
  return WriteFileAtomicFrom(
      path, [&](const ChunkWriter& write) { return write(data); }, mode);
}

Status WriteFileAtomicFrom(const stdfs::path& path,
                           const std::function<Status(const ChunkWriter&)>& produce,
                           unsigned mode) {
  const stdfs::path tmp = path.string() + TempSuffix();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return Fail(ErrnoError("create " + tmp.string()));
  }
  auto fail = [&](Error e) -> Status {
    ::unlink(tmp.c_str());
    return Fail(std::move(e));
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return fail(ErrnoError("chmod " + tmp.string()));
  }
  const ChunkWriter write = [&](std::string_view data) -> Status {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return Fail(ErrnoError("write " + tmp.string()));
      }
      done += static_cast<std::size_t>(n);
    }
    return Ok();
  };
  if (auto st = produce(write); !st) {
    return fail(std::move(st.error()));
  }
  if (::fsync(fd.get()) != 0) {
    return fail(ErrnoError("fsync " + tmp.string()));
  }
  if (auto st = Close(fd, tmp); !st) {
    return fail(st.error());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(ErrnoError("rename " + tmp.string() + " to " + path.string()));
  }
  return SyncParent(path);
}

Result<std::string> ReadFile(const stdfs::path& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    Error e = ErrnoError("open " + path.string(), err);
    if (err == ENOENT) {
      return Fail(Error(make_error_code(Errc::kNotFound), e.message()));
    }
    return Fail(std::move(e));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(ErrnoError("read " + path.string()));
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Fail(Errc::kLimitExceeded,
                  path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Status MakeDirs(const stdfs::path& dir, unsigned mode) {
  std::error_code ec;
  if (stdfs::is_directory(dir, ec)) {
    return Ok();
  }
  const stdfs::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    if (auto st = MakeDirs(parent, mode); !st) {
      return st;
    }
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno == EEXIST && stdfs::is_directory(dir, ec)) {
      return Ok();
    }
    return Fail(ErrnoError("mkdir " + dir.string()));
  }
  return SyncParent(dir);
}

Status ReplaceSymlink(const stdfs::path& link, const stdfs::path& target) {
  const stdfs::path tmp = link.string() + ".tmp";
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0) {
    return Fail(ErrnoError("symlink " + tmp.string()));
  }
  if (auto st = SyncParent(link); !st) {
    return st;
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    return Fail(ErrnoError("rename " + tmp.string() + " to " + link.string()));
  }
  return SyncParent(link);
}

Status RenameDurable(const stdfs::path& from, const stdfs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Fail(ErrnoError("rename " + from.string() + " to " + to.string()));
  }
  if (auto st = SyncParent(to); !st) {
    return st;
  }
  if (from.parent_path() != to.parent_path()) {
    return SyncParent(from);
  }
  return Ok();
}

bool IsTempName(std::string_view name) {
  if (name.ends_with(".tmp")) {
    return name.size() > 4;
  }
  // "<name>.tmp.<pid>.<n>"
  auto digits_before = [&](std::string_view s, std::size_t end) {
    std::size_t i = end;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') {
      --i;
    }
    return i < end ? i : std::string_view::npos;
  };
  const std::size_t n_start = digits_before(name, name.size());
  if (n_start == std::string_view::npos || n_start == 0 || name[n_start - 1] != '.') {
    return false;
  }
  const std::size_t pid_start = digits_before(name, n_start - 1);
  if (pid_start == std::string_view::npos) {
    return false;
  }
  const std::string_view head = name.substr(0, pid_start);
  return head.size() > 5 && head.ends_with(".tmp.");
}

Result<std::size_t> RemoveTempFiles(const stdfs::path& dir) {
  std::error_code ec;
  std::size_t removed = 0;
  stdfs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) {
      return removed;
    }
    return Fail(SystemError("listing " + dir.string(), ec));
  }
  for (; it != stdfs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return Fail(SystemError("listing " + dir.string(), ec));
    }
    const stdfs::path p = it->path();
    std::error_code sec;
    const auto type = stdfs::symlink_status(p, sec).type();
    if (sec || type == stdfs::file_type::directory || !IsTempName(p.filename().string())) {
      continue;
    }
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      return Fail(ErrnoError("unlink " + p.string()));
    }
    ++removed;
  }
  if (ec) {
    return Fail(SystemError("listing " + dir.string(), ec));
  }
  if (removed > 0) {
    if (auto st = SyncPath(dir); !st) {
      return Fail(st.error());
    }
  }
  return removed;
}

}  // namespace ferry::fs
