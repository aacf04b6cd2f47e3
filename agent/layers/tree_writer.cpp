#include "tree_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "entry_path.hpp"
#include "ferry/core/check.hpp"
#include "ferry/core/crashpoint.hpp"

namespace ferry::layers {
namespace {

FERRY_DEFINE_CRASHPOINT(kAfterEntry, "layers.extract.after-entry");

constexpr std::int64_t kMaxId = 0xfffffffe;  // (uid_t)-1 means "unchanged" to chown

}  // namespace

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
  return OpenDirBeneath(root_.get(), std::span(components).first(count), create, entry);
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
                    EntryName(entry) + ": would replace a non-empty directory of the same name");
      }
      return Fail(EntryErrno(entry, "remove earlier directory"));
    }
  } else if (::unlinkat(parent, name.c_str(), 0) != 0) {
    return Fail(EntryErrno(entry, "remove earlier entry"));
  }
  // A removed directory must never be reused as a parent, so the key goes now; the fd stays open
  // until the next lookup replaces it, because the caller may be writing into it (`parent` is the
  // cached fd when the entry is in a subdirectory).
  cached_key_.clear();
  return Ok();
}

Status TreeWriter::CheckXattrs(const EntryHeader& header,
                               std::vector<std::pair<std::string, std::string>>* kept) const {
  for (const auto& [name, value] : header.xattrs) {
    if (name.starts_with("trusted.overlay.")) {
      return Fail(LayersErrc::kForbiddenXattr, EntryName(header.path) + ": extended attribute " +
                                                   name + " would steer overlayfs");
    }
    const bool listed = std::any_of(policy_->xattr_prefixes.begin(), policy_->xattr_prefixes.end(),
                                    [&](const std::string& p) { return name.starts_with(p); });
    if (listed) {
      kept->emplace_back(name, value);
    } else if (policy_->refuse_unlisted_xattrs) {
      return Fail(LayersErrc::kForbiddenXattr,
                  EntryName(header.path) + ": extended attribute " + name + " is not allowed");
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
    return Fail(LayersErrc::kTooManyEntries, EntryName(path) + ": more than " +
                                                 std::to_string(policy_->max_entries) + " entries");
  }
  if (policy_->declared_entries && entries_ > *policy_->declared_entries) {
    return Fail(LayersErrc::kTooManyEntries,
                EntryName(path) + ": the layer has more entries than the " +
                    std::to_string(*policy_->declared_entries) + " its manifest declares");
  }
  auto split = SplitEntryPath(path, *policy_, "entry");
  if (!split) {
    return Fail(std::move(split.error()));
  }
  const std::vector<std::string>& components = *split;
  for (std::size_t i = 0; i + 1 < components.size(); ++i) {
    if (components[i].starts_with(kWhiteoutPrefix)) {
      return Fail(
          LayersErrc::kBadWhiteout,
          EntryName(path) + ": parent " + QuotePath(components[i]) + " is named as a whiteout");
    }
  }
  if (!components.empty() && components.back().starts_with(kWhiteoutPrefix)) {
    if (auto st = WriteWhiteout(header, components); !st) {
      return st;
    }
    Crashpoint(kAfterEntry);
    return Ok();
  }
  std::vector<std::pair<std::string, std::string>> xattrs;
  FERRY_TRY_STATUS(CheckXattrs(header, &xattrs), "checking xattrs");
  if (header.uid < 0 || header.uid > kMaxId || header.gid < 0 || header.gid > kMaxId) {
    return Fail(LayersErrc::kMalformedArchive, EntryName(path) + ": uid or gid out of range");
  }
  if (header.kind != EntryKind::kDirectory && (header.mode & (S_ISUID | S_ISGID)) != 0 &&
      policy_->set_id_bits == SetIdBits::kRefuse) {
    return Fail(LayersErrc::kSetIdBits, EntryName(path) + ": setuid/setgid bits are not allowed");
  }
  // Counted so that the caller can say what it took away: a stripped privilege changes how the
  // app behaves, and nobody should have to guess why.
  const bool has_mode = header.kind == EntryKind::kFile || header.kind == EntryKind::kCharDevice ||
                        header.kind == EntryKind::kFifo;
  if (has_mode && (header.mode & (S_ISUID | S_ISGID)) != 0 &&
      policy_->set_id_bits == SetIdBits::kStrip) {
    ++set_id_stripped_;
  }
  const auto is_capability = [](const auto& x) { return x.first == "security.capability"; };
  if (std::any_of(header.xattrs.begin(), header.xattrs.end(), is_capability) &&
      std::none_of(xattrs.begin(), xattrs.end(), is_capability)) {
    ++capabilities_stripped_;
  }
  switch (header.kind) {
    case EntryKind::kFile:
      if (header.size > policy_->max_file_bytes) {
        return Fail(LayersErrc::kFileTooLarge, EntryName(path) + ": size " +
                                                   std::to_string(header.size) +
                                                   " is over the per-file limit of " +
                                                   std::to_string(policy_->max_file_bytes));
      }
      if (header.size > policy_->max_total_file_bytes -
                            std::min(total_file_bytes_, policy_->max_total_file_bytes)) {
        return Fail(LayersErrc::kLayerTooLarge,
                    EntryName(path) + ": the layer's files exceed the limit of " +
                        std::to_string(policy_->max_total_file_bytes) + " bytes");
      }
      if (policy_->declared_unpacked_size &&
          header.size > *policy_->declared_unpacked_size -
                            std::min(total_file_bytes_, *policy_->declared_unpacked_size)) {
        return Fail(LayersErrc::kLayerTooLarge,
                    EntryName(path) + ": the layer's files exceed the unpacked size of " +
                        std::to_string(*policy_->declared_unpacked_size) +
                        " bytes its manifest declares");
      }
      total_file_bytes_ += header.size;
      break;
    case EntryKind::kCharDevice: {
      const auto dev = std::make_pair(header.dev_major, header.dev_minor);
      if (std::find(policy_->allowed_char_devices.begin(), policy_->allowed_char_devices.end(),
                    dev) == policy_->allowed_char_devices.end()) {
        return Fail(LayersErrc::kDeviceNode, EntryName(path) + ": character device " +
                                                 std::to_string(dev.first) + ":" +
                                                 std::to_string(dev.second) + " is not allowed");
      }
      break;
    }
    case EntryKind::kBlockDevice:
      return Fail(LayersErrc::kDeviceNode, EntryName(path) + ": block devices are not allowed");
    case EntryKind::kFifo:
      if (!policy_->allow_fifos) {
        return Fail(LayersErrc::kSpecialFile, EntryName(path) + ": FIFOs are not allowed");
      }
      break;
    case EntryKind::kSocket:
      return Fail(LayersErrc::kSpecialFile, EntryName(path) + ": sockets are not allowed");
    case EntryKind::kUnknown:
      return Fail(LayersErrc::kSpecialFile, EntryName(path) + ": unsupported entry type");
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
    return Fail(LayersErrc::kUnsafePath,
                EntryName(path) + ": names the root but is not a directory");
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
        return Fail(LayersErrc::kMalformedArchive,
                    EntryName(path) + ": symlink with an empty target");
      }
      if (header.link_target.size() >= policy_->max_path_length) {
        return Fail(LayersErrc::kPathTooLong, EntryName(path) + ": symlink target is " +
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

}  // namespace ferry::layers
