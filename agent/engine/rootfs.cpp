#include "rootfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "ferry/core/fs.hpp"
#include "ferry/layers/extract.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

// A whiteout path from a layer's list: relative, normalized, no "." or ".." parts.
bool IsSafeRelative(const std::string& p) {
  if (p.empty() || p.front() == '/') {
    return false;
  }
  for (const auto& part : stdfs::path(p)) {
    if (part == "." || part == ".." || part.empty()) {
      return false;
    }
  }
  return true;
}

// True when every directory from `root` down to the parent of `root/rel` is a real directory (no
// symlink on the way), so acting on the path cannot leave the tree.
bool ParentsAreRealDirs(const stdfs::path& root, const stdfs::path& rel) {
  stdfs::path p = root;
  const stdfs::path parent = rel.parent_path();
  for (const auto& part : parent) {
    p /= part;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return false;
    }
  }
  return true;
}

Status RemoveAnything(const stdfs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Ok() : Fail(ErrnoError("lstat " + path.string()));
  }
  if (S_ISDIR(st.st_mode)) {
    return layers::RemoveTree(path);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Fail(ErrnoError("unlink " + path.string()));
  }
  return Ok();
}

Status ApplyWhiteouts(const stdfs::path& list_file, const stdfs::path& target) {
  std::error_code ec;
  if (!stdfs::exists(list_file, ec)) {
    return Ok();
  }
  auto list = fs::ReadFile(list_file, 64u << 20);
  if (!list) {
    return Fail(list.error());
  }
  std::size_t start = 0;
  while (start < list->size()) {
    std::size_t end = list->find('\0', start);
    if (end == std::string::npos) {
      end = list->size();
    }
    std::string entry = list->substr(start, end - start);
    start = end + 1;
    if (entry.empty()) {
      continue;
    }
    constexpr std::string_view kOpaque = ".wh..wh..opq";
    bool opaque = false;
    if (entry == kOpaque) {
      opaque = true;
      entry.clear();
    } else if (entry.size() > kOpaque.size() + 1 &&
               entry.compare(entry.size() - kOpaque.size() - 1, std::string::npos,
                             "/" + std::string(kOpaque)) == 0) {
      opaque = true;
      entry.resize(entry.size() - kOpaque.size() - 1);
    }
    if (!entry.empty() && !IsSafeRelative(entry)) {
      return Fail(Errc::kCorrupt, list_file.string() + ": unsafe whiteout path '" + entry + "'");
    }
    const stdfs::path rel(entry);
    if (!ParentsAreRealDirs(target, rel)) {
      continue;  // nothing lower can be there: a symlink or nothing stands on the way
    }
    const stdfs::path path = entry.empty() ? target : target / rel;
    if (!opaque) {
      if (auto st = RemoveAnything(path); !st) {
        return st;
      }
      continue;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      continue;
    }
    for (const auto& child : stdfs::directory_iterator(path, ec)) {
      if (auto rm = RemoveAnything(child.path()); !rm) {
        return rm;
      }
    }
  }
  return Ok();
}

Status CopyFile(const stdfs::path& from, const stdfs::path& to, const struct stat& st) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) {
    return Fail(ErrnoError("open " + from.string()));
  }
  const int out =
      ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 07777);
  if (out < 0) {
    ::close(in);
    return Fail(ErrnoError("create " + to.string()));
  }
  char buf[1 << 16];
  Status result = Ok();
  for (;;) {
    const ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0) {
      result = Fail(ErrnoError("read " + from.string()));
      break;
    }
    if (n == 0) {
      break;
    }
    // A full disk shows first as a short write; only the next write says why (ENOSPC).
    std::size_t written = 0;
    while (result && written < static_cast<std::size_t>(n)) {
      const ssize_t w = ::write(out, buf + written, static_cast<std::size_t>(n) - written);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        result = Fail(ErrnoError("write " + to.string()));
      } else if (w == 0) {
        result = Fail(Errc::kIo, "write " + to.string() + ": wrote nothing");
      } else {
        written += static_cast<std::size_t>(w);
      }
    }
    if (!result) {
      break;
    }
  }
  if (result && (::fchown(out, st.st_uid, st.st_gid) != 0 && errno != EPERM)) {
    result = Fail(ErrnoError("chown " + to.string()));
  }
  if (result && ::fchmod(out, st.st_mode & 07777) != 0) {
    result = Fail(ErrnoError("chmod " + to.string()));
  }
  ::close(in);
  ::close(out);
  return result;
}

struct DirTimes {
  stdfs::path path;
  struct stat st;
};

Status AddLayer(const stdfs::path& layer_dir, const stdfs::path& target, bool copy_files,
                std::vector<DirTimes>& dirs) {
  std::error_code ec;
  stdfs::recursive_directory_iterator it(layer_dir, stdfs::directory_options::none, ec);
  if (ec) {
    return Fail(SystemError("reading layer " + layer_dir.string(), ec));
  }
  for (; it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      return Fail(SystemError("reading layer " + layer_dir.string(), ec));
    }
    const stdfs::path& src = it->path();
    const stdfs::path rel = src.lexically_relative(layer_dir);
    const stdfs::path dst = target / rel;
    struct stat st {};
    if (::lstat(src.c_str(), &st) != 0) {
      return Fail(ErrnoError("lstat " + src.string()));
    }
    struct stat existing {};
    const bool exists = ::lstat(dst.c_str(), &existing) == 0;
    if (S_ISDIR(st.st_mode)) {
      if (exists && !S_ISDIR(existing.st_mode)) {
        if (auto rm = RemoveAnything(dst); !rm) {
          return rm;
        }
      }
      if ((!exists || !S_ISDIR(existing.st_mode)) && ::mkdir(dst.c_str(), 0700) != 0) {
        return Fail(ErrnoError("mkdir " + dst.string()));
      }
      dirs.push_back({dst, st});
      continue;
    }
    if (exists) {
      if (auto rm = RemoveAnything(dst); !rm) {
        return rm;
      }
    }
    if (S_ISREG(st.st_mode)) {
      if (copy_files) {
        if (auto cp = CopyFile(src, dst, st); !cp) {
          return cp;
        }
      } else if (::link(src.c_str(), dst.c_str()) != 0) {
        return Fail(ErrnoError("link " + dst.string()));
      }
    } else if (S_ISLNK(st.st_mode)) {
      std::string link_target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlink(src.c_str(), link_target.data(), link_target.size());
      if (n < 0) {
        return Fail(ErrnoError("readlink " + src.string()));
      }
      link_target.resize(static_cast<std::size_t>(n));
      if (::symlink(link_target.c_str(), dst.c_str()) != 0) {
        return Fail(ErrnoError("symlink " + dst.string()));
      }
      if (::lchown(dst.c_str(), st.st_uid, st.st_gid) != 0 && errno != EPERM) {
        return Fail(ErrnoError("lchown " + dst.string()));
      }
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      // The layer store let it in under its policy (allow-listed devices, FIFOs).
      if (::mknod(dst.c_str(), st.st_mode, st.st_rdev) != 0) {
        return Fail(ErrnoError("mknod " + dst.string()));
      }
    }
  }
  return Ok();
}

}  // namespace

Status AssembleRootfs(const std::vector<RootfsLayer>& layers, const stdfs::path& target,
                      bool copy_files) {
  if (::mkdir(target.c_str(), 0755) != 0) {
    return Fail(ErrnoError("mkdir " + target.string()));
  }
  std::vector<DirTimes> dirs;
  for (const auto& layer : layers) {
    if (auto st = ApplyWhiteouts(layer.whiteouts_file, target); !st) {
      return Fail(st.error().WithContext("layer " + layer.dir.filename().string()));
    }
    if (auto st = AddLayer(layer.dir, target, copy_files, dirs); !st) {
      return Fail(st.error().WithContext("layer " + layer.dir.filename().string()));
    }
  }
  // Directory metadata last, in layer order so the top layer wins.
  for (auto it = dirs.begin(); it != dirs.end(); ++it) {
    struct stat now {};
    if (::lstat(it->path.c_str(), &now) != 0 || !S_ISDIR(now.st_mode)) {
      continue;  // hidden by a later whiteout, or replaced by a later layer
    }
    if (::lchown(it->path.c_str(), it->st.st_uid, it->st.st_gid) != 0 && errno != EPERM) {
      return Fail(ErrnoError("chown " + it->path.string()));
    }
    if (::chmod(it->path.c_str(), it->st.st_mode & 07777) != 0) {
      return Fail(ErrnoError("chmod " + it->path.string()));
    }
  }
  const int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrnoError("open " + target.string()));
  }
  const int rc = ::syncfs(fd);
  ::close(fd);
  if (rc != 0) {
    return Fail(ErrnoError("syncfs " + target.string()));
  }
  return Ok();
}

}  // namespace ferry::engine
