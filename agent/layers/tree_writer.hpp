// Writes checked tar entries below a root directory without ever following a symlink
// (module-internal). Parents are resolved from a directory fd of the root, one component at a time
// with O_NOFOLLOW (or in one openat2 call with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS when the
// kernel has it), and entries are created with *at() calls on the parent's fd. The root itself is
// the only directory outside the tree that is ever opened.
#pragma once

#include <time.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/beneath.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/layers/record_spill.hpp"

namespace ferry::layers {

// OCI whiteouts: `.wh.<name>` hides <name> of lower layers; the opaque marker hides all of a
// directory's lower content.
inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

enum class EntryKind {
  kFile,
  kDirectory,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket,
  kUnknown
};

// One tar header, as libarchive decoded it.
struct EntryHeader {
  std::string path;
  EntryKind kind = EntryKind::kUnknown;
  std::string link_target;  // symlink target or hardlink target path
  std::uint32_t mode = 0;   // permission bits, setuid/setgid/sticky included
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::uint64_t size = 0;  // logical size (sparse files: the size with holes)
  std::optional<timespec> mtime;
  std::optional<timespec> atime;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// A piece of a file's data at `offset`; an empty span ends the data.
struct DataBlock {
  std::uint64_t offset = 0;
  std::span<const std::byte> bytes;
};
using DataReader = std::function<Result<DataBlock>()>;

class TreeWriter {
 public:
  // Opens `root` (must be an existing empty directory, not a symlink).
  static Result<TreeWriter> Open(const std::filesystem::path& root, const ExtractPolicy& policy);

  // Checks `header` against the policy and creates the entry; `read_data` yields a regular file's
  // data. Whiteouts are recorded per the policy. Errors name the entry.
  Status Write(const EntryHeader& header, const DataReader& read_data);

  // Applies the deferred directory modes and times (after the last entry: creating children would
  // change a directory's mtime).
  Status Finish();

  std::uint64_t entries() const { return entries_; }
  std::uint64_t set_id_stripped() const { return set_id_stripped_; }
  std::uint64_t capabilities_stripped() const { return capabilities_stripped_; }
  WhiteoutList TakeWhiteouts() { return std::move(whiteouts_); }
  int root_fd() const { return root_.get(); }

 private:
  // One per directory entry, duplicates included (applied in order, so the last one wins): one
  // joined path each keeps a layer of many directories small in memory.
  struct DeferredDir {
    std::string path;  // normalized, "" for the root
    std::uint32_t mode = 0;
    std::optional<timespec> mtime;
    std::optional<timespec> atime;
  };

  TreeWriter(UniqueFd root, const ExtractPolicy& policy)
      : root_(std::move(root)),
        policy_(&policy),
        whiteouts_(root_.get()),
        deferred_dirs_(root_.get(), "the list of directories") {}

  // An fd of the directory made of the first `count` components, creating missing directories
  // when `create` is set. A symlink or non-directory on the way fails with kSymlinkInPath.
  Result<int> OpenDir(const std::vector<std::string>& components, std::size_t count, bool create,
                      const std::string& entry);
  Result<UniqueFd> WalkDir(const std::vector<std::string>& components, std::size_t count,
                           bool create, const std::string& entry);
  // Removes what is at `name` unless it is a directory and `keep_directory` is set.
  Status ClearSlot(int parent, const std::string& name, bool keep_directory,
                   const std::string& entry);
  Status CheckXattrs(const EntryHeader& header,
                     std::vector<std::pair<std::string, std::string>>* kept) const;
  Status WriteWhiteout(const EntryHeader& header, const std::vector<std::string>& components);
  Status WriteFile(const EntryHeader& header, int parent, const std::string& name,
                   const DataReader& read_data,
                   const std::vector<std::pair<std::string, std::string>>& xattrs);
  Status WriteDirectory(const EntryHeader& header, const std::vector<std::string>& components,
                        const std::vector<std::pair<std::string, std::string>>& xattrs);
  Status WriteHardlink(const EntryHeader& header, int parent, const std::string& name);
  // chown (per the policy), then chmod when `mode` is set, then the times; never follows `name`.
  Status SetOwnerAndTimes(int parent, const std::string& name, const EntryHeader& header,
                          std::optional<std::uint32_t> mode);
  // Queues a directory's mode and times for Finish(). Past a few hundred KiB of them, they go to
  // an unnamed temporary file in the root (RecordSpill), so a layer of a million directories
  // costs disk, not memory.
  Status DeferDirectory(const DeferredDir& dir);
  Status ApplyDeferredDir(const DeferredDir& d);
  std::uint32_t FileMode(const EntryHeader& header) const;

  UniqueFd root_;
  const ExtractPolicy* policy_;
  std::uint64_t entries_ = 0;
  std::uint64_t total_file_bytes_ = 0;
  std::uint64_t set_id_stripped_ = 0;
  std::uint64_t capabilities_stripped_ = 0;
  WhiteoutList whiteouts_;     // spilled beside the tree like the directories
  RecordSpill deferred_dirs_;  // DeferredDir records, in order
  std::string cached_key_;     // components of the cached parent directory, joined by '/'
  UniqueFd cached_fd_;
};

}  // namespace ferry::layers
