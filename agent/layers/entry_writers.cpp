// The writers for each kind of entry and the final pass over directories (TreeWriter's second
// half; see tree_writer.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "entry_path.hpp"
#include "tree_writer.hpp"

namespace ferry::layers {
namespace {

timespec TimeOrOmit(const std::optional<timespec>& t) { return t ? *t : timespec{0, UTIME_OMIT}; }

}  // namespace

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
      return Fail(std::move(block.error()).WithContext(EntryName(path)));
    }
    if (block->bytes.empty()) {
      break;
    }
    const std::uint64_t block_end = block->offset + block->bytes.size();
    if (block->offset > header.size || block_end > header.size) {
      return Fail(LayersErrc::kMalformedArchive, EntryName(path) + ": data past its declared size");
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
  return DeferDirectory(
      {JoinPath(components, components.size()), header.mode & 03777, header.mtime, header.atime});
}

Status TreeWriter::WriteHardlink(const EntryHeader& header, int parent, const std::string& name) {
  const std::string& path = header.path;
  auto target = SplitEntryPath(header.link_target, *policy_, "hardlink target");
  if (!target) {
    return Fail(LayersErrc::kBadHardlink, EntryName(path) + ": " + target.error().message());
  }
  if (target->empty()) {
    return Fail(LayersErrc::kBadHardlink, EntryName(path) + ": hardlink to the root");
  }
  auto split = SplitEntryPath(path, *policy_, "entry");
  if (split && *split == *target) {
    return Fail(LayersErrc::kBadHardlink, EntryName(path) + ": hardlink to itself");
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
      return Fail(LayersErrc::kBadHardlink, EntryName(path) + ": hardlink target " +
                                                QuotePath(header.link_target) +
                                                " is not an earlier entry of the layer");
    }
    return Fail(EntryErrno(path, "stat hardlink target"));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISLNK(st.st_mode)   ? "a symlink"
                       : S_ISDIR(st.st_mode) ? "a directory"
                                             : "not a regular file";
    return Fail(LayersErrc::kBadHardlink, EntryName(path) + ": hardlink target " +
                                              QuotePath(header.link_target) + " is " + what);
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
    return whiteouts_.Append({parent_path, true});
  }
  const std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (hidden.empty() || hidden == "." || hidden == ".." || hidden.starts_with(kWhiteoutPrefix)) {
    return Fail(LayersErrc::kBadWhiteout, EntryName(path) + ": whiteout aimed at " +
                                              QuotePath(hidden) +
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
  return whiteouts_.Append({parent_count == 0 ? hidden : parent_path + "/" + hidden, false});
}

namespace {

// One deferred directory as a RecordSpill record: this header, then the path.
struct DeferredDirHeader {
  std::uint32_t mode = 0;
  std::uint32_t has_mtime = 0;
  std::uint32_t has_atime = 0;
  std::uint32_t reserved = 0;
  std::int64_t mtime_sec = 0;
  std::int64_t mtime_nsec = 0;
  std::int64_t atime_sec = 0;
  std::int64_t atime_nsec = 0;
};

}  // namespace

Status TreeWriter::DeferDirectory(const DeferredDir& dir) {
  DeferredDirHeader h;
  h.mode = dir.mode;
  h.has_mtime = dir.mtime ? 1 : 0;
  h.has_atime = dir.atime ? 1 : 0;
  if (dir.mtime) {
    h.mtime_sec = dir.mtime->tv_sec;
    h.mtime_nsec = dir.mtime->tv_nsec;
  }
  if (dir.atime) {
    h.atime_sec = dir.atime->tv_sec;
    h.atime_nsec = dir.atime->tv_nsec;
  }
  std::string record(reinterpret_cast<const char*>(&h), sizeof h);
  record += dir.path;
  FERRY_TRY_STATUS(deferred_dirs_.Append(record), "deferring directories");
  return Ok();
}

Status TreeWriter::Finish() {
  DeferredDir d;
  FERRY_TRY_STATUS(deferred_dirs_.ForEach([&](std::string_view record) -> Status {
    DeferredDirHeader h;
    if (record.size() < sizeof h) {
      return Fail(Errc::kCorrupt, "the list of directories holds a short record");
    }
    std::memcpy(&h, record.data(), sizeof h);
    d.path.assign(record.substr(sizeof h));
    d.mode = h.mode;
    d.mtime.reset();
    d.atime.reset();
    if (h.has_mtime != 0) {
      d.mtime = timespec{static_cast<time_t>(h.mtime_sec), static_cast<long>(h.mtime_nsec)};
    }
    if (h.has_atime != 0) {
      d.atime = timespec{static_cast<time_t>(h.atime_sec), static_cast<long>(h.atime_nsec)};
    }
    return ApplyDeferredDir(d);
  }),
                   "finishing directories");
  deferred_dirs_.Clear();
  return Ok();
}

Status TreeWriter::ApplyDeferredDir(const DeferredDir& d) {
  UniqueFd fd;
  if (d.path.empty()) {
    fd.Reset(::dup(root_.get()));
  } else {
    std::vector<std::string> components;
    for (std::size_t start = 0; start <= d.path.size();) {
      const std::size_t end = std::min(d.path.find('/', start), d.path.size());
      components.push_back(d.path.substr(start, end - start));
      start = end + 1;
    }
    auto walked = WalkDir(components, components.size(), /*create=*/false, d.path);
    if (!walked) {
      // A later entry replaced the directory (with a symlink or a file): nothing to apply.
      if (walked.error().Is(LayersErrc::kSymlinkInPath) || walked.error().Is(Errc::kNotFound)) {
        return Ok();
      }
      return Fail(std::move(walked.error()));
    }
    fd = std::move(*walked);
  }
  const std::string& path = d.path;
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
  return Ok();
}

}  // namespace ferry::layers
