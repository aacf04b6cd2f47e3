#include "ferry/layers/beneath.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "entry_path.hpp"

namespace ferry::layers {
namespace {

std::atomic<int> openat2_state{-1};  // -1 unknown, 0 absent or disabled, 1 present

int Openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

std::string Join(std::span<const std::string> components, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count && i < components.size(); ++i) {
    if (i > 0) {
      out += '/';
    }
    out += components[i];
  }
  return out;
}

}  // namespace

bool HaveOpenat2() {
  int state = openat2_state.load();
  if (state < 0) {
    const int fd = Openat2(AT_FDCWD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    state = fd >= 0 ? 1 : 0;
    if (fd >= 0) {
      ::close(fd);
    }
    openat2_state.store(state);
  }
  return state == 1;
}

void DisableOpenat2ForTesting(bool disabled) { openat2_state.store(disabled ? 0 : -1); }

Result<UniqueFd> OpenDirBeneath(int root_fd, std::span<const std::string> components, bool create,
                                std::string_view entry) {
  const std::size_t count = components.size();
  if (HaveOpenat2() && count > 0) {
    const std::string rel = Join(components, count);
    const int fd = Openat2(root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd >= 0) {
      return UniqueFd(fd);
    }
    // Missing parents, symlinks and non-directories go the slow way, which creates what is
    // missing and names the component at fault.
    if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR && errno != EXDEV &&
        errno != EAGAIN) {
      return Fail(EntryErrno(entry, "open parent " + QuotePath(rel)));
    }
  }
  UniqueFd current;
  int at = root_fd;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& name = components[i];
    int fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(at, name.c_str(), 0755) != 0 && errno != EEXIST) {
        return Fail(EntryErrno(entry, "create parent " + QuotePath(Join(components, i + 1))));
      }
      fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && ::fchmod(fd, 0755) != 0) {
        ::close(fd);
        return Fail(EntryErrno(entry, "chmod parent " + QuotePath(Join(components, i + 1))));
      }
    }
    if (fd < 0) {
      const int err = errno;
      const std::string parent = QuotePath(Join(components, i + 1));
      if (err == ELOOP || err == ENOTDIR) {
        struct stat st {};
        const bool is_link =
            ::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        return Fail(LayersErrc::kSymlinkInPath,
                    EntryName(entry) + ": parent " + parent +
                        (is_link ? " is a symlink (never followed)" : " is not a directory"));
      }
      if (err == ENOENT) {
        return Fail(Errc::kNotFound, EntryName(entry) + ": parent " + parent + " does not exist");
      }
      return Fail(ErrnoError(EntryName(entry) + ": open parent " + parent, err));
    }
    current.Reset(fd);
    at = fd;
  }
  if (!current.valid()) {
    current.Reset(::dup(root_fd));
    if (!current.valid()) {
      return Fail(ErrnoError(EntryName(entry) + ": dup the tree's root"));
    }
  }
  return current;
}

namespace {

// How many names of a directory being removed are held at a time.
constexpr std::size_t kRemoveBatch = 4096;

// Reads the directory `dir_fd` from the top, calling `visit` with each name until it returns
// false or fails.
Status ReadNames(int dir_fd, std::string_view shown,
                 const std::function<Result<bool>(const std::string&)>& visit) {
  const int list_fd = ::dup(dir_fd);
  DIR* dir = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
  if (dir == nullptr) {
    if (list_fd >= 0) {
      ::close(list_fd);
    }
    return Fail(ErrnoError("list " + std::string(shown)));
  }
  // A dup shares the offset: start from the top whatever read the fd before.
  ::rewinddir(dir);
  Status result = Ok();
  std::string name;
  errno = 0;
  while (const dirent* d = ::readdir(dir)) {
    name = d->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    auto more = visit(name);
    if (!more || !*more) {
      if (!more) {
        result = Fail(std::move(more.error()));
      }
      errno = 0;
      break;
    }
    errno = 0;
  }
  const int err = errno;
  ::closedir(dir);
  if (result && err != 0) {
    return Fail(ErrnoError("list " + std::string(shown), err));
  }
  return result;
}

}  // namespace

Result<std::vector<std::string>> ListNames(int dir_fd, std::string_view shown, std::size_t limit) {
  std::vector<std::string> names;
  if (limit == 0) {
    return names;
  }
  auto read = ReadNames(dir_fd, shown, [&](const std::string& name) -> Result<bool> {
    names.push_back(name);
    return names.size() < limit;
  });
  if (!read) {
    return Fail(std::move(read.error()));
  }
  return names;
}

Status ForEachName(int dir_fd, std::string_view shown,
                   const std::function<Status(const std::string&)>& visit) {
  return ReadNames(dir_fd, shown, [&](const std::string& name) -> Result<bool> {
    if (auto st = visit(name); !st) {
      return Fail(std::move(st.error()));
    }
    return true;
  });
}

Status RemoveAt(int parent_fd, const std::string& name, const std::string& shown) {
  struct stat st {};
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Ok() : Fail(ErrnoError("stat " + shown));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return Fail(ErrnoError("remove " + shown));
    }
    return Ok();
  }
  if ((st.st_mode & S_IRWXU) != S_IRWXU) {
    // Never a symlink here (fstatat above), so fchmodat cannot reach outside the tree.
    ::fchmodat(parent_fd, name.c_str(), (st.st_mode & 07777) | S_IRWXU, 0);
  }
  UniqueFd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(ErrnoError("open " + shown));
  }
  // Names first, then recursion: one open fd per level, however wide the directory, and a
  // bounded batch of names at a time, listed again until none is left.
  for (;;) {
    auto names = ListNames(fd.get(), shown, kRemoveBatch);
    if (!names) {
      return Fail(std::move(names.error()));
    }
    if (names->empty()) {
      break;
    }
    for (const std::string& child : *names) {
      FERRY_TRY_STATUS(RemoveAt(fd.get(), child, shown + "/" + child), "removing tree");
    }
  }
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return Fail(ErrnoError("remove " + shown));
  }
  return Ok();
}

}  // namespace ferry::layers
