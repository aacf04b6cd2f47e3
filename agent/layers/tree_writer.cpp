#include "agent/layers/tree_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "agent/layers/entry_path.hpp"
#include "ferry/core/check.hpp"
#include "ferry/core/crashpoint.hpp"

namespace ferry::layers {
namespace {

FERRY_DEFINE_CRASHPOINT(kAfterEntry, "layers.extract.after-entry");

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::int64_t kMaxId = 0xfffffffe;  // (uid_t)-1 means "unchanged" to chown

std::atomic<int> openat2_state{-1};  // -1 unknown, 0 absent or disabled, 1 present

std::string Entry(const std::string& path) { return "entry " + QuotePath(path); }

Error EntryErrno(const std::string& path, std::string_view what) {
  return ErrnoError(Entry(path) + ": " + std::string(what));
}

int Openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

timespec TimeOrOmit(const std::optional<timespec>& t) { return t ? *t : timespec{0, UTIME_OMIT}; }

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

Result<TreeWriter> TreeWriter::Open(const std::filesystem::path& root,
                                    const ExtractPolicy& policy) {
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(ErrnoError("open extraction root " + root.string()));
  }
  // An empty root is what makes every entry found below it one of this layer's own.
  UniqueFd probe(::dup(fd.get()));
  DIR* dir = probe.valid() ? ::fdopendir(probe.get()) : nullptr;
  if (dir == nullptr) {
    return Fail(ErrnoError("list extraction root " + root.string()));
  }
  probe.Release();
  bool empty = true;
  while (const dirent* d = ::readdir(dir)) {
    const std::string_view name = d->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(dir);
  if (!empty) {
    return Fail(LayersErrc::kDestinationNotEmpty,
                "extraction root " + root.string() + " is not empty");
  }
  return TreeWriter(std::move(fd), policy);
}

Result<UniqueFd> TreeWriter::WalkDir(const std::vector<std::string>& components, std::size_t count,
                                     bool create, const std::string& entry) {
  if (HaveOpenat2() && count > 0) {
    const std::string rel = JoinPath(components, count);
    const int fd = Openat2(root_.get(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC,
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
  int at = root_.get();
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& name = components[i];
    int fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(at, name.c_str(), 0755) != 0 && errno != EEXIST) {
        return Fail(EntryErrno(entry, "create parent " + QuotePath(JoinPath(components, i + 1))));
      }
      fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && ::fchmod(fd, 0755) != 0) {
        ::close(fd);
        return Fail(EntryErrno(entry, "chmod parent " + QuotePath(JoinPath(components, i + 1))));
      }
    }
    if (fd < 0) {
      const int err = errno;
      const std::string parent = QuotePath(JoinPath(components, i + 1));
      if (err == ELOOP || err == ENOTDIR) {
        struct stat st {};
        const bool is_link =
            ::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        return Fail(LayersErrc::kSymlinkInPath,
                    Entry(entry) + ": parent " + parent +
                        (is_link ? " is a symlink (never followed)" : " is not a directory"));
      }
      if (err == ENOENT) {
        return Fail(Errc::kNotFound, Entry(entry) + ": parent " + parent + " does not exist");
      }
      return Fail(ErrnoError(Entry(entry) + ": open parent " + parent, err));
    }
    current.Reset(fd);
    at = fd;
  }
  if (!current.valid()) {
    current.Reset(::dup(root_.get()));
    if (!current.valid()) {
      return Fail(ErrnoError("dup extraction root"));
    }
  }
  return current;
}

Result<int> TreeWriter::OpenDir(const std::vector<std::string>& components, std::size_t count,
                                bool create, const std::string& entry) {
  if (count == 0) {
    return root_.get();
  }
  std::string key = JoinPath(components, count);
  if (!cached_key_.empty() && key == cached_key_) {
    return cached_fd_.get();
  }
  auto fd = WalkDir(components, count, create, entry);
  if (!fd) {
    return Fail(std::move(fd.error()));
  }
  cached_fd_ = std::move(*fd);
  cached_key_ = std::move(key);
  return cached_fd_.get();
}

Status TreeWriter::ClearSlot(int parent, const std::string& name, bool keep_directory,
                             const std::string& entry) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return Ok();
    }
    return Fail(EntryErrno(entry, "stat"));
  }
  if (S_ISDIR(st.st_mode)) {
    if (keep_directory) {
      return Ok();
    }
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST) {
        return Fail(LayersErrc::kTypeConflict,
                    Entry(entry) + ": would replace a non-empty directory of the same name");
      }
      return Fail(EntryErrno(entry, "remove earlier directory"));
    }
  } else if (::unlinkat(parent, name.c_str(), 0) != 0) {
    return Fail(EntryErrno(entry, "remove earlier entry"));
  }
  // The cached parent fd stays open until the next lookup (callers hold it), but a removed
  // directory must never be reused as a parent.
  ForgetCachedDir();
  return Ok();
}

Status TreeWriter::CheckXattrs(const EntryHeader& header,
                               std::vector<std::pair<std::string, std::string>>* kept) const {
  for (const auto& [name, value] : header.xattrs) {
    if (StartsWith(name, "trusted.overlay.")) {
      return Fail(LayersErrc::kForbiddenXattr,
                  Entry(header.path) + ": extended attribute " + name + " would steer overlayfs");
    }
    const bool listed = std::any_of(policy_->xattr_prefixes.begin(), policy_->xattr_prefixes.end(),
                                    [&](const std::string& p) { return StartsWith(name, p); });
    if (listed) {
      kept->emplace_back(name, value);
    } else if (policy_->refuse_unlisted_xattrs) {
      return Fail(LayersErrc::kForbiddenXattr,
                  Entry(header.path) + ": extended attribute " + name + " is not allowed");
    }
  }
  return Ok();
}

std::uint32_t TreeWriter::FileMode(const EntryHeader& header) const {
  std::uint32_t mode = header.mode & 07777;
  if (policy_->set_id_bits == SetIdBits::kStrip) {
    mode &= ~static_cast<std::uint32_t>(S_ISUID | S_ISGID);
  }
  return mode;
}

Status TreeWriter::Write(const EntryHeader& header, const DataReader& read_data) {
  const std::string& path = header.path;
  if (++entries_ > policy_->max_entries) {
    return Fail(LayersErrc::kTooManyEntries,
                Entry(path) + ": more than " + std::to_string(policy_->max_entries) + " entries");
  }
  auto split = SplitEntryPath(path, *policy_, "entry");
  if (!split) {
    return Fail(std::move(split.error()));
  }
  const std::vector<std::string>& components = *split;
  for (std::size_t i = 0; i + 1 < components.size(); ++i) {
    if (StartsWith(components[i], kWhiteoutPrefix)) {
      return Fail(LayersErrc::kBadWhiteout,
                  Entry(path) + ": parent " + QuotePath(components[i]) + " is named as a whiteout");
    }
  }
  if (!components.empty() && StartsWith(components.back(), kWhiteoutPrefix)) {
    return WriteWhiteout(header, components);
  }
  std::vector<std::pair<std::string, std::string>> xattrs;
  FERRY_TRY_STATUS(CheckXattrs(header, &xattrs), "checking xattrs");
  if (header.uid < 0 || header.uid > kMaxId || header.gid < 0 || header.gid > kMaxId) {
    return Fail(LayersErrc::kMalformedArchive, Entry(path) + ": uid or gid out of range");
  }
  if (header.kind != EntryKind::kDirectory && (header.mode & (S_ISUID | S_ISGID)) != 0 &&
      policy_->set_id_bits == SetIdBits::kRefuse) {
    return Fail(LayersErrc::kSetIdBits, Entry(path) + ": setuid/setgid bits are not allowed");
  }
  switch (header.kind) {
    case EntryKind::kFile:
      if (header.size > policy_->max_file_bytes) {
        return Fail(LayersErrc::kFileTooLarge, Entry(path) + ": size " +
                                                   std::to_string(header.size) +
                                                   " is over the per-file limit of " +
                                                   std::to_string(policy_->max_file_bytes));
      }
      if (header.size > policy_->max_total_file_bytes -
                            std::min(total_file_bytes_, policy_->max_total_file_bytes)) {
        return Fail(LayersErrc::kLayerTooLarge,
                    Entry(path) + ": the layer's files exceed the limit of " +
                        std::to_string(policy_->max_total_file_bytes) + " bytes");
      }
      total_file_bytes_ += header.size;
      break;
    case EntryKind::kCharDevice: {
      const auto dev = std::make_pair(header.dev_major, header.dev_minor);
      if (std::find(policy_->allowed_char_devices.begin(), policy_->allowed_char_devices.end(),
                    dev) == policy_->allowed_char_devices.end()) {
        return Fail(LayersErrc::kDeviceNode, Entry(path) + ": character device " +
                                                 std::to_string(dev.first) + ":" +
                                                 std::to_string(dev.second) + " is not allowed");
      }
      break;
    }
    case EntryKind::kBlockDevice:
      return Fail(LayersErrc::kDeviceNode, Entry(path) + ": block devices are not allowed");
    case EntryKind::kFifo:
      if (!policy_->allow_fifos) {
        return Fail(LayersErrc::kSpecialFile, Entry(path) + ": FIFOs are not allowed");
      }
      break;
    case EntryKind::kSocket:
      return Fail(LayersErrc::kSpecialFile, Entry(path) + ": sockets are not allowed");
    case EntryKind::kUnknown:
      return Fail(LayersErrc::kSpecialFile, Entry(path) + ": unsupported entry type");
    case EntryKind::kDirectory:
    case EntryKind::kSymlink:
    case EntryKind::kHardlink:
      break;
  }
  if (header.kind == EntryKind::kDirectory) {
    FERRY_TRY_STATUS(WriteDirectory(header, components, xattrs), "extracting");
    Crashpoint(kAfterEntry);
    return Ok();
  }
  if (components.empty()) {
    return Fail(LayersErrc::kUnsafePath, Entry(path) + ": names the root but is not a directory");
  }
  auto parent = OpenDir(components, components.size() - 1, /*create=*/true, path);
  if (!parent) {
    return Fail(std::move(parent.error()));
  }
  const std::string& name = components.back();
  switch (header.kind) {
    case EntryKind::kFile:
      FERRY_TRY_STATUS(ClearSlot(*parent, name, false, path), "extracting");
      FERRY_TRY_STATUS(WriteFile(header, *parent, name, read_data, xattrs), "extracting");
      break;
    case EntryKind::kSymlink:
      if (header.link_target.empty()) {
        return Fail(LayersErrc::kMalformedArchive, Entry(path) + ": symlink with an empty target");
      }
      if (header.link_target.size() >= policy_->max_path_length) {
        return Fail(LayersErrc::kPathTooLong, Entry(path) + ": symlink target is " +
                                                  std::to_string(header.link_target.size()) +
                                                  " bytes, the limit is " +
                                                  std::to_string(policy_->max_path_length - 1));
      }
      FERRY_TRY_STATUS(ClearSlot(*parent, name, false, path), "extracting");
      // The target is stored, never resolved: nothing below follows a symlink.
      if (::symlinkat(header.link_target.c_str(), *parent, name.c_str()) != 0) {
        return Fail(EntryErrno(path, "symlink"));
      }
      FERRY_TRY_STATUS(SetOwnerAndTimes(*parent, name, header, std::nullopt), "extracting");
      break;
    case EntryKind::kHardlink:
      FERRY_TRY_STATUS(WriteHardlink(header, *parent, name), "extracting");
      break;
    case EntryKind::kCharDevice:
    case EntryKind::kFifo: {
      FERRY_TRY_STATUS(ClearSlot(*parent, name, false, path), "extracting");
      const mode_t type = header.kind == EntryKind::kFifo ? S_IFIFO : S_IFCHR;
      if (::mknodat(*parent, name.c_str(), type | 0600,
                    makedev(header.dev_major, header.dev_minor)) != 0) {
        return Fail(EntryErrno(path, "mknod"));
      }
      FERRY_TRY_STATUS(SetOwnerAndTimes(*parent, name, header, FileMode(header)), "extracting");
      break;
    }
    case EntryKind::kDirectory:
    case EntryKind::kBlockDevice:
    case EntryKind::kSocket:
    case EntryKind::kUnknown:
      FERRY_CHECK(false);
  }
  Crashpoint(kAfterEntry);
  return Ok();
}

Status TreeWriter::SetOwnerAndTimes(int parent, const std::string& name, const EntryHeader& header,
                                    std::optional<std::uint32_t> mode) {
  if (policy_->ownership == Ownership::kFromArchive &&
      ::fchownat(parent, name.c_str(), static_cast<uid_t>(header.uid),
                 static_cast<gid_t>(header.gid), AT_SYMLINK_NOFOLLOW) != 0) {
    return Fail(EntryErrno(header.path, "chown"));
  }
  // Only called for entries this writer just made with mknodat, which are never symlinks.
  if (mode && ::fchmodat(parent, name.c_str(), *mode, 0) != 0) {
    return Fail(EntryErrno(header.path, "chmod"));
  }
  if (header.mtime || header.atime) {
    const timespec times[2] = {TimeOrOmit(header.atime ? header.atime : header.mtime),
                               TimeOrOmit(header.mtime)};
    if (::utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(EntryErrno(header.path, "set times"));
    }
  }
  return Ok();
}

Status TreeWriter::WriteFile(const EntryHeader& header, int parent, const std::string& name,
                             const DataReader& read_data,
                             const std::vector<std::pair<std::string, std::string>>& xattrs) {
  const std::string& path = header.path;
  UniqueFd fd(
      ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return Fail(EntryErrno(path, "create"));
  }
  std::uint64_t end = 0;
  for (;;) {
    auto block = read_data();
    if (!block) {
      return Fail(std::move(block.error()).WithContext(Entry(path)));
    }
    if (block->bytes.empty()) {
      break;
    }
    const std::uint64_t block_end = block->offset + block->bytes.size();
    if (block->offset > header.size || block_end > header.size) {
      return Fail(LayersErrc::kMalformedArchive, Entry(path) + ": data past its declared size");
    }
    std::size_t done = 0;
    while (done < block->bytes.size()) {
      const ssize_t n = ::pwrite(fd.get(), block->bytes.data() + done, block->bytes.size() - done,
                                 static_cast<off_t>(block->offset + done));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return Fail(EntryErrno(path, "write"));
      }
      done += static_cast<std::size_t>(n);
    }
    end = std::max(end, block_end);
  }
  // A sparse file's trailing hole.
  if (end < header.size && ::ftruncate(fd.get(), static_cast<off_t>(header.size)) != 0) {
    return Fail(EntryErrno(path, "truncate"));
  }
  // chown clears setuid/setgid and file capabilities, so it comes before chmod and xattrs.
  if (policy_->ownership == Ownership::kFromArchive &&
      ::fchown(fd.get(), static_cast<uid_t>(header.uid), static_cast<gid_t>(header.gid)) != 0) {
    return Fail(EntryErrno(path, "chown"));
  }
  if (::fchmod(fd.get(), FileMode(header)) != 0) {
    return Fail(EntryErrno(path, "chmod"));
  }
  for (const auto& [key, value] : xattrs) {
    if (::fsetxattr(fd.get(), key.c_str(), value.data(), value.size(), 0) != 0) {
      return Fail(EntryErrno(path, "set xattr " + key));
    }
  }
  if (header.mtime || header.atime) {
    const timespec times[2] = {TimeOrOmit(header.atime ? header.atime : header.mtime),
                               TimeOrOmit(header.mtime)};
    if (::futimens(fd.get(), times) != 0) {
      return Fail(EntryErrno(path, "set times"));
    }
  }
  if (::close(fd.Release()) != 0) {
    return Fail(EntryErrno(path, "close"));
  }
  return Ok();
}

Status TreeWriter::WriteDirectory(const EntryHeader& header,
                                  const std::vector<std::string>& components,
                                  const std::vector<std::pair<std::string, std::string>>& xattrs) {
  const std::string& path = header.path;
  UniqueFd owned;
  int dir = root_.get();
  if (!components.empty()) {
    auto parent = OpenDir(components, components.size() - 1, /*create=*/true, path);
    if (!parent) {
      return Fail(std::move(parent.error()));
    }
    const std::string& name = components.back();
    FERRY_TRY_STATUS(ClearSlot(*parent, name, /*keep_directory=*/true, path), "extracting");
    // Owner-only until Finish() applies the archive's mode.
    if (::mkdirat(*parent, name.c_str(), 0700) != 0 && errno != EEXIST) {
      return Fail(EntryErrno(path, "mkdir"));
    }
    owned.Reset(::openat(*parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!owned.valid()) {
      return Fail(EntryErrno(path, "open directory"));
    }
    dir = owned.get();
  }
  if (policy_->ownership == Ownership::kFromArchive &&
      ::fchown(dir, static_cast<uid_t>(header.uid), static_cast<gid_t>(header.gid)) != 0) {
    return Fail(EntryErrno(path, "chown"));
  }
  for (const auto& [key, value] : xattrs) {
    if (::fsetxattr(dir, key.c_str(), value.data(), value.size(), 0) != 0) {
      return Fail(EntryErrno(path, "set xattr " + key));
    }
  }
  // setgid on a directory only makes new files inherit its group; setuid means nothing there.
  DeferredDir deferred{components, header.mode & 03777, header.mtime, header.atime};
  const std::string key = JoinPath(components, components.size());
  if (auto it = deferred_index_.find(key); it != deferred_index_.end()) {
    deferred_dirs_[it->second] = std::move(deferred);
  } else {
    deferred_index_.emplace(key, deferred_dirs_.size());
    deferred_dirs_.push_back(std::move(deferred));
  }
  return Ok();
}

Status TreeWriter::WriteHardlink(const EntryHeader& header, int parent, const std::string& name) {
  const std::string& path = header.path;
  auto target = SplitEntryPath(header.link_target, *policy_, "hardlink target");
  if (!target) {
    return Fail(LayersErrc::kBadHardlink, Entry(path) + ": " + target.error().message());
  }
  if (target->empty()) {
    return Fail(LayersErrc::kBadHardlink, Entry(path) + ": hardlink to the root");
  }
  auto split = SplitEntryPath(path, *policy_, "entry");
  if (split && *split == *target) {
    return Fail(LayersErrc::kBadHardlink, Entry(path) + ": hardlink to itself");
  }
  auto target_parent = WalkDir(*target, target->size() - 1, /*create=*/false, path);
  if (!target_parent) {
    return Fail(LayersErrc::kBadHardlink, "hardlink target " + QuotePath(header.link_target) +
                                              ": " + target_parent.error().message());
  }
  const std::string& target_name = target->back();
  struct stat st {};
  if (::fstatat(target_parent->get(), target_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return Fail(LayersErrc::kBadHardlink, Entry(path) + ": hardlink target " +
                                                QuotePath(header.link_target) +
                                                " is not an earlier entry of the layer");
    }
    return Fail(EntryErrno(path, "stat hardlink target"));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISLNK(st.st_mode)   ? "a symlink"
                       : S_ISDIR(st.st_mode) ? "a directory"
                                             : "not a regular file";
    return Fail(LayersErrc::kBadHardlink,
                Entry(path) + ": hardlink target " + QuotePath(header.link_target) + " is " + what);
  }
  FERRY_TRY_STATUS(ClearSlot(parent, name, false, path), "extracting");
  if (::linkat(target_parent->get(), target_name.c_str(), parent, name.c_str(), 0) != 0) {
    return Fail(EntryErrno(path, "hardlink"));
  }
  return Ok();
}

Status TreeWriter::WriteWhiteout(const EntryHeader& header,
                                 const std::vector<std::string>& components) {
  const std::string& path = header.path;
  const std::string& name = components.back();
  const std::size_t parent_count = components.size() - 1;
  const std::string parent_path = JoinPath(components, parent_count);
  if (name == kOpaqueMarker) {
    auto parent = OpenDir(components, parent_count, /*create=*/true, path);
    if (!parent) {
      return Fail(std::move(parent.error()));
    }
    if (policy_->whiteouts == WhiteoutMode::kOverlay &&
        ::fsetxattr(*parent, "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return Fail(EntryErrno(path, "mark directory opaque"));
    }
    whiteouts_.push_back({parent_path, true});
    Crashpoint(kAfterEntry);
    return Ok();
  }
  const std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (hidden.empty() || hidden == "." || hidden == ".." || StartsWith(hidden, kWhiteoutPrefix)) {
    return Fail(LayersErrc::kBadWhiteout, Entry(path) + ": whiteout aimed at " + QuotePath(hidden) +
                                              ", which is not a name in its directory");
  }
  auto parent = OpenDir(components, parent_count, /*create=*/true, path);
  if (!parent) {
    return Fail(std::move(parent.error()));
  }
  if (policy_->whiteouts == WhiteoutMode::kOverlay) {
    struct stat st {};
    if (::fstatat(*parent, hidden.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      // This layer has its own entry of that name, which hides the lower one already.
    } else if (errno != ENOENT) {
      return Fail(EntryErrno(path, "stat whiteout target"));
    } else if (::mknodat(*parent, hidden.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
      return Fail(EntryErrno(path, "create overlay whiteout"));
    }
  }
  whiteouts_.push_back({parent_count == 0 ? hidden : parent_path + "/" + hidden, false});
  Crashpoint(kAfterEntry);
  return Ok();
}

Status TreeWriter::Finish() {
  for (const DeferredDir& d : deferred_dirs_) {
    UniqueFd fd;
    if (d.components.empty()) {
      fd.Reset(::dup(root_.get()));
    } else {
      auto walked = WalkDir(d.components, d.components.size(), /*create=*/false, "");
      if (!walked) {
        // A later entry replaced the directory (with a symlink or a file): nothing to apply.
        if (walked.error().Is(LayersErrc::kSymlinkInPath) || walked.error().Is(Errc::kNotFound)) {
          continue;
        }
        return Fail(std::move(walked.error()));
      }
      fd = std::move(*walked);
    }
    const std::string path = JoinPath(d.components, d.components.size());
    if (!fd.valid()) {
      return Fail(ErrnoError("open directory " + QuotePath(path)));
    }
    if (::fchmod(fd.get(), d.mode) != 0) {
      return Fail(ErrnoError("chmod directory " + QuotePath(path)));
    }
    if (d.mtime || d.atime) {
      const timespec times[2] = {TimeOrOmit(d.atime ? d.atime : d.mtime), TimeOrOmit(d.mtime)};
      if (::futimens(fd.get(), times) != 0) {
        return Fail(ErrnoError("set times of directory " + QuotePath(path)));
      }
    }
  }
  deferred_dirs_.clear();
  deferred_index_.clear();
  return Ok();
}

}  // namespace ferry::layers
