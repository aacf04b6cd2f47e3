#include "rootfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/fs.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/beneath.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/layers/record_spill.hpp"
#include "whiteout_index.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

using layers::OpenDirBeneath;
using layers::RemoveAt;

// How many names of a directory an opaque whiteout empties are held at a time.
constexpr std::size_t kRemoveBatch = 4096;

// The hex name of a layer's directory, layers/<hex>/.
std::string LayerName(stdfs::path dir) {
  if (dir.filename().empty()) {
    dir = dir.parent_path();
  }
  return dir.filename().string();
}

std::string Quote(std::string_view rel) { return "\"" + std::string(rel) + "\""; }

std::string Join(const std::vector<std::string>& components) {
  std::string out;
  for (const auto& c : components) {
    out += (out.empty() ? "" : "/") + c;
  }
  return out;
}

// The components of a relative path that this file joined itself, or of a whiteout path from a
// layer's list: no empty, "." or ".." part, not absolute.
Result<std::vector<std::string>> Split(std::string_view rel) {
  std::vector<std::string> out;
  if (rel.empty()) {
    return out;
  }
  std::size_t start = 0;
  while (start <= rel.size()) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    const std::string_view part = rel.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Fail(Errc::kCorrupt, "unsafe path " + Quote(rel));
    }
    out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

// No real directory stands at a path of the tree: a symlink or a non-directory on the way, or
// nothing. Whatever a lower layer had below it is hidden already, so there is nothing to act on.
bool NoDirectoryThere(const Error& e) {
  return e.Is(layers::LayersErrc::kSymlinkInPath) || e.Is(Errc::kNotFound);
}

// Streams the list: a layer may hold a million whiteouts, and only one of them is in memory here.
Status ApplyWhiteouts(const stdfs::path& list_file, int root) {
  return ForEachWhiteoutEntry(list_file, [&](std::string_view listed) -> Status {
    std::string entry(listed);
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
    auto components = Split(entry);
    if (!components || (!opaque && components->empty())) {
      return Fail(Errc::kCorrupt, list_file.string() + ": unsafe whiteout path " + Quote(entry));
    }
    if (opaque) {
      auto dir = OpenDirBeneath(root, *components, /*create=*/false, entry);
      if (!dir) {
        if (NoDirectoryThere(dir.error())) {
          return Ok();
        }
        return Fail(std::move(dir.error()).WithContext("whiteout"));
      }
      // A bounded batch of names at a time, listed again until none is left.
      for (;;) {
        auto names = layers::ListNames(dir->get(), entry, kRemoveBatch);
        if (!names) {
          return Fail(std::move(names.error()));
        }
        if (names->empty()) {
          return Ok();
        }
        for (const auto& name : *names) {
          FERRY_TRY_STATUS(RemoveAt(dir->get(), name, entry.empty() ? name : entry + "/" + name),
                           "opaque whiteout " + Quote(entry));
        }
      }
    }
    const std::string name = components->back();
    components->pop_back();
    auto parent = OpenDirBeneath(root, *components, /*create=*/false, entry);
    if (!parent) {
      if (NoDirectoryThere(parent.error())) {
        return Ok();
      }
      return Fail(std::move(parent.error()).WithContext("whiteout"));
    }
    FERRY_TRY_STATUS(RemoveAt(parent->get(), name, entry), "whiteout " + Quote(entry));
    return Ok();
  });
}

Status CopyFile(int from_dir, int to_dir, const std::string& name, const std::string& rel,
                const struct stat& st) {
  UniqueFd in(::openat(from_dir, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in.valid()) {
    return Fail(ErrnoError("open " + Quote(rel) + " in its layer"));
  }
  UniqueFd out(::openat(to_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                        st.st_mode & 07777));
  if (!out.valid()) {
    return Fail(ErrnoError("create " + Quote(rel)));
  }
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Fail(ErrnoError("read " + Quote(rel) + " in its layer"));
    }
    if (n == 0) {
      break;
    }
    // A full disk shows first as a short write; only the next write says why (ENOSPC).
    std::size_t written = 0;
    while (written < static_cast<std::size_t>(n)) {
      const ssize_t w = ::write(out.get(), buf + written, static_cast<std::size_t>(n) - written);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        return Fail(ErrnoError("write " + Quote(rel)));
      }
      if (w == 0) {
        return Fail(Errc::kIo, "write " + Quote(rel) + ": wrote nothing");
      }
      written += static_cast<std::size_t>(w);
    }
  }
  if (::fchown(out.get(), st.st_uid, st.st_gid) != 0 && errno != EPERM) {
    return Fail(ErrnoError("chown " + Quote(rel)));
  }
  if (::fchmod(out.get(), st.st_mode & 07777) != 0) {
    return Fail(ErrnoError("chmod " + Quote(rel)));
  }
  if (::close(out.Release()) != 0) {
    return Fail(ErrnoError("close " + Quote(rel)));
  }
  return Ok();
}

// A directory's owner and mode, applied once every layer is in (see AssembleRootfs). Kept as a
// record of a RecordSpill, so a layer of a million directories costs disk, not memory.
struct DirMeta {
  std::string rel;  // joined components; re-resolved beneath the root, never kept as an fd
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;
};

std::string EncodeDirMeta(const DirMeta& d) {
  std::string out(3 * sizeof(std::uint32_t), '\0');
  const std::uint32_t fields[3] = {d.uid, d.gid, d.mode};
  std::memcpy(out.data(), fields, sizeof(fields));
  return out + d.rel;
}

DirMeta DecodeDirMeta(std::string_view record) {
  std::uint32_t fields[3] = {};
  std::memcpy(fields, record.data(), sizeof(fields));
  return DirMeta{std::string(record.substr(sizeof(fields))), fields[0], fields[1],
                 static_cast<mode_t>(fields[2])};
}

// One directory of a layer into the same directory of the tree: `src` and `dst` are fds of both.
// An entry of this layer replaces what lower layers put at its name, and a non-directory hides
// the whole lower subtree, as overlayfs does: nothing of a lower layer is ever reached through
// a symlink of a higher one. Subdirectories are appended to `pending` (their joined paths) and
// `dirs` (their owner and mode).
Status AddDirectory(int src, int dst, const std::string& shown, bool copy_files,
                    layers::RecordSpill& dirs, layers::RecordSpill& pending) {
  return layers::ForEachName(
      src, shown.empty() ? "the layer's root" : Quote(shown),
      [&](const std::string& name) -> Status {
        const std::string child = shown.empty() ? name : shown + "/" + name;
        struct stat st {};
        if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return Fail(ErrnoError("stat " + Quote(child) + " in its layer"));
        }
        struct stat existing {};
        bool exists = ::fstatat(dst, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
        if (!exists && errno != ENOENT) {
          return Fail(ErrnoError("stat " + Quote(child)));
        }
        if (exists && !(S_ISDIR(st.st_mode) && S_ISDIR(existing.st_mode))) {
          FERRY_TRY_STATUS(RemoveAt(dst, name, child), "replacing a lower layer's " + Quote(child));
          exists = false;
        }
        if (S_ISDIR(st.st_mode)) {
          // Owner-only until every layer is in and the directory's own mode applies.
          if (!exists && ::mkdirat(dst, name.c_str(), 0700) != 0) {
            return Fail(ErrnoError("mkdir " + Quote(child)));
          }
          FERRY_TRY_STATUS(dirs.Append(EncodeDirMeta({child, st.st_uid, st.st_gid,
                                                      static_cast<mode_t>(st.st_mode & 07777)})),
                           "keeping " + Quote(child));
          FERRY_TRY_STATUS(pending.Append(child), "keeping " + Quote(child));
        } else if (S_ISREG(st.st_mode)) {
          if (copy_files) {
            FERRY_TRY_STATUS(CopyFile(src, dst, name, child, st), "copying");
          } else if (::linkat(src, name.c_str(), dst, name.c_str(), 0) != 0) {
            return Fail(ErrnoError("link " + Quote(child)));
          }
        } else if (S_ISLNK(st.st_mode)) {
          std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
          const ssize_t n = ::readlinkat(src, name.c_str(), target.data(), target.size());
          if (n < 0) {
            return Fail(ErrnoError("readlink " + Quote(child) + " in its layer"));
          }
          target.resize(static_cast<std::size_t>(n));
          // Stored as it is and never resolved here: only the container resolves it, in its root.
          if (::symlinkat(target.c_str(), dst, name.c_str()) != 0) {
            return Fail(ErrnoError("symlink " + Quote(child)));
          }
          if (::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 &&
              errno != EPERM) {
            return Fail(ErrnoError("chown " + Quote(child)));
          }
        } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
          // The layer store let it in under its policy (allow-listed devices, FIFOs).
          if (::mknodat(dst, name.c_str(), st.st_mode, st.st_rdev) != 0) {
            return Fail(ErrnoError("mknod " + Quote(child)));
          }
        }
        return Ok();
      });
}

Status AddLayer(const stdfs::path& layer_dir, int root, bool copy_files,
                layers::RecordSpill& dirs) {
  UniqueFd layer(::open(layer_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!layer.valid()) {
    return Fail(ErrnoError("open layer " + layer_dir.string()));
  }
  // Breadth first, one level at a time, by path: two fds open at a time, however deep the tree,
  // and the paths of a level kept in a RecordSpill, however wide.
  layers::RecordSpill level(root, "the directories of a level");
  layers::RecordSpill next(root, "the directories of a level");
  FERRY_TRY_STATUS(level.Append(""), "adding the layer");
  while (level.size() != 0) {
    FERRY_TRY_STATUS(level.ForEach([&](std::string_view record) -> Status {
      const std::string shown(record);
      auto rel = Split(shown);
      if (!rel) {
        return Fail(std::move(rel.error()));
      }
      auto src = OpenDirBeneath(layer.get(), *rel, /*create=*/false, shown);
      if (!src) {
        return Fail(std::move(src.error()).WithContext("in the layer"));
      }
      // Made by this layer a moment ago (or a lower one), with nothing but real directories
      // above.
      auto dst = OpenDirBeneath(root, *rel, /*create=*/false, shown);
      if (!dst) {
        return Fail(std::move(dst.error()));
      }
      return AddDirectory(src->get(), dst->get(), shown, copy_files, dirs, next);
    }),
                     "adding the layer");
    std::swap(level, next);
    next.Clear();
  }
  return Ok();
}

UniqueFd OpenLayerRoot(const stdfs::path& dir) {
  return UniqueFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// What the topmost of layers [0, below) that has something at `components` has there, unless a
// whiteout in layers [1, below] hides it: true when that is a directory.
Result<bool> LowerDirectoryVisible(const std::vector<UniqueFd>& roots,
                                   const std::vector<WhiteoutIndex>& whiteouts, std::size_t below,
                                   std::vector<std::string> components) {
  const std::vector<std::string> full = components;
  const std::string entry = Join(components);
  const std::string name = components.back();
  components.pop_back();
  for (std::size_t k = below; k-- > 0;) {
    if (whiteouts[k + 1].Hides(full)) {
      return false;
    }
    auto parent = OpenDirBeneath(roots[k].get(), components, /*create=*/false, entry);
    if (!parent) {
      if (parent.error().Is(Errc::kNotFound)) {
        continue;  // This layer has nothing there: look further down.
      }
      if (parent.error().Is(layers::LayersErrc::kSymlinkInPath)) {
        return false;  // A non-directory on the way hides everything below it.
      }
      return Fail(std::move(parent.error()));
    }
    struct stat st {};
    if (::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {
        continue;
      }
      return Fail(ErrnoError("stat " + Quote(entry)));
    }
    return S_ISDIR(st.st_mode);
  }
  return false;
}

// Calls `on_symlink` with the components of each symlink in the directory `dir_fd`, recursively.
Status ForEachSymlink(int dir_fd, std::vector<std::string>& components,
                      const std::function<Status(const std::vector<std::string>&)>& on_symlink) {
  // Read as it goes: one open directory a level (256 at the most), however wide each is.
  return layers::ForEachName(dir_fd, Join(components), [&](const std::string& name) -> Status {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(ErrnoError("stat " + Quote(Join(components) + "/" + name)));
    }
    components.push_back(name);
    if (S_ISLNK(st.st_mode)) {
      if (auto checked = on_symlink(components); !checked) {
        return checked;
      }
    } else if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) {
        return Fail(ErrnoError("open " + Quote(Join(components))));
      }
      if (auto st2 = ForEachSymlink(sub.get(), components, on_symlink); !st2) {
        return st2;
      }
    }
    components.pop_back();
    return Ok();
  });
}

}  // namespace

Status CheckLayerStack(const std::vector<RootfsLayer>& layers) {
  if (layers.size() < 2) {
    return Ok();
  }
  std::vector<UniqueFd> roots;
  // One index a layer, 8 bytes a whiteout (whiteout_index.cpp): all are needed at once.
  std::vector<WhiteoutIndex> whiteouts;
  for (const auto& layer : layers) {
    roots.push_back(OpenLayerRoot(layer.dir));
    if (!roots.back().valid()) {
      return Fail(ErrnoError("open " + layer.dir.string()));
    }
    auto w = WhiteoutIndex::Read(layer.whiteouts_file);
    if (!w) {
      return Fail(std::move(w.error()));
    }
    whiteouts.push_back(std::move(*w));
  }
  for (std::size_t i = 1; i < layers.size(); ++i) {
    const std::string label = "layer sha256:" + LayerName(layers[i].dir);
    std::vector<std::string> components;
    auto check = [&](const std::vector<std::string>& symlink) -> Status {
      auto dir_below = LowerDirectoryVisible(roots, whiteouts, i, symlink);
      if (!dir_below) {
        return Fail(std::move(dir_below.error()).WithContext(label));
      }
      if (*dir_below) {
        return Fail(Errc::kUnsupported,
                    label + ": entry " + Quote(Join(symlink)) +
                        " replaces a directory of an earlier layer with a symlink");
      }
      return Ok();
    };
    if (auto st = ForEachSymlink(roots[i].get(), components, check); !st) {
      return st;
    }
  }
  return Ok();
}

Status AssembleRootfs(const std::vector<RootfsLayer>& layers, const stdfs::path& target,
                      bool copy_files) {
  if (::mkdir(target.c_str(), 0755) != 0) {
    return Fail(ErrnoError("mkdir " + target.string()));
  }
  UniqueFd root(::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) {
    return Fail(ErrnoError("open " + target.string()));
  }
  layers::RecordSpill dirs(root.get(), "the list of directories");
  for (const auto& layer : layers) {
    const std::string context = "layer " + layer.dir.filename().string();
    FERRY_TRY_STATUS(ApplyWhiteouts(layer.whiteouts_file, root.get()), context);
    FERRY_TRY_STATUS(AddLayer(layer.dir, root.get(), copy_files, dirs), context);
  }
  // Directory owners and modes last (a mode without write permission would stop the layers
  // above), in layer order so the top layer wins. Each path is resolved again beneath the root
  // without following symlinks: a higher layer may have made it a symlink (to anywhere) or a file,
  // and then there is nothing of that directory left to set.
  if (auto st = dirs.ForEach([&](std::string_view record) -> Status {
        const DirMeta d = DecodeDirMeta(record);
        auto components = Split(d.rel);
        if (!components) {
          return Fail(std::move(components.error()));
        }
        auto dir = OpenDirBeneath(root.get(), *components, /*create=*/false, d.rel);
        if (!dir) {
          if (NoDirectoryThere(dir.error())) {
            return Ok();
          }
          return Fail(std::move(dir.error()));
        }
        if (::fchown(dir->get(), d.uid, d.gid) != 0 && errno != EPERM) {
          return Fail(ErrnoError("chown " + Quote(d.rel)));
        }
        if (::fchmod(dir->get(), d.mode) != 0) {
          return Fail(ErrnoError("chmod " + Quote(d.rel)));
        }
        return Ok();
      });
      !st) {
    return st;
  }
  if (::syncfs(root.get()) != 0) {
    return Fail(ErrnoError("syncfs " + target.string()));
  }
  return Ok();
}

}  // namespace ferry::engine
