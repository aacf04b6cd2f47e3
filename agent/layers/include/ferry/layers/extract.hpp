// Hardened extraction of one layer (an uncompressed tar stream) into a directory, hashing the
// exact bytes it extracts. Ferry never lets libarchive write to disk: every entry is created with
// *at() calls relative to a directory fd of the root, parents are resolved without following any
// symlink, and each entry is checked against an ExtractPolicy first. Whatever the layer holds,
// nothing outside the root is created, changed, chmod-ed, chown-ed or has its times changed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/layers/byte_source.hpp"
#include "ferry/layers/errors.hpp"

namespace ferry::layers {

// How an OCI whiteout (`.wh.<name>`, `.wh..wh..opq`) is recorded, since each layer is unpacked on
// its own and the whiteout must survive until the layers are stacked.
enum class WhiteoutMode {
  kOverlay,  // as overlayfs expects: char device 0:0 and xattr trusted.overlay.opaque=y (root)
  kList,     // only in ExtractResult::whiteouts (StageLayer writes them to <hex>.whiteouts)
};

enum class SetIdBits {
  kStrip,   // clear setuid/setgid and extract the file
  kKeep,    // keep them
  kRefuse,  // refuse the layer
};

enum class Ownership {
  kFromArchive,  // chown to the uid/gid numbers of the tar (the container has its own users)
  kCaller,       // leave files owned by the extracting process
};

struct ExtractPolicy {
  std::uint64_t max_tar_bytes = 64ull << 30;         // raw tar stream, trailing blocks included
  std::uint64_t max_total_file_bytes = 64ull << 30;  // sum of logical file sizes
  std::uint64_t max_file_bytes = 16ull << 30;        // one file's logical size (sparse counted)
  std::uint64_t max_entries = 1'000'000;
  std::size_t max_path_length = 4096;
  std::size_t max_name_length = 255;
  std::size_t max_depth = 256;

  // What the signed manifest declares for this layer (ferry-publish counts them): its number of
  // tar entries and the sum of its regular files' sizes. Extraction stops at the first entry past
  // either figure (kTooManyEntries, kLayerTooLarge), before writing it, rather than after a
  // million files. Unset for manifests older than these fields: the limits above still apply.
  std::optional<std::uint64_t> declared_entries;
  std::optional<std::uint64_t> declared_unpacked_size;

  // Device nodes are refused unless their (major, minor) is listed here, char devices only.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> allowed_char_devices;
  bool allow_fifos = false;
  SetIdBits set_id_bits = SetIdBits::kStrip;
  Ownership ownership = Ownership::kFromArchive;

  // Extended attributes whose name starts with one of these prefixes are restored; others are
  // dropped, or refused when refuse_unlisted_xattrs is set. trusted.overlay.* is always refused
  // (it would steer overlayfs), whatever the list says.
  std::vector<std::string> xattr_prefixes = {"user."};
  bool refuse_unlisted_xattrs = false;

  WhiteoutMode whiteouts = WhiteoutMode::kOverlay;

  // Asked before each entry and after every few MiB of the tar stream, on the extracting thread;
  // true stops extraction with Errc::kCancelled ("ferryd is stopping") and StageLayer removes
  // what was unpacked. Must be cheap and thread-safe. Null: never stops.
  std::function<bool()> stop_requested;

  // The defaults for the running process: ownership and overlay whiteouts need root.
  static ExtractPolicy ForCurrentProcess();
};

struct Whiteout {
  std::string path;     // path inside the layer of what is hidden ("etc/old.conf"), or of the dir
  bool opaque = false;  // true: every lower entry below `path` is hidden (`.wh..wh..opq`)
};

class RecordSpill;

// A layer's whiteouts in the order of its tar. Past a few hundred KiB of them they wait in an
// unnamed temporary file instead of in memory (a layer may hold a million whiteouts), so the list
// is read with ForEach rather than indexed. Move-only.
class WhiteoutList {
 public:
  // An empty list that keeps every whiteout in memory.
  WhiteoutList();
  // An empty list whose whiteouts past the in-memory bound go to an unnamed temporary file made
  // in `dir_fd` (borrowed: it must stay open while whiteouts are appended).
  explicit WhiteoutList(int dir_fd);
  WhiteoutList(WhiteoutList&&) noexcept;
  WhiteoutList& operator=(WhiteoutList&&) noexcept;
  ~WhiteoutList();

  // Fails only when writing the temporary file fails.
  Status Append(const Whiteout& whiteout);

  // Calls `visit` with each whiteout in order and stops at the first error (the visitor's, or
  // reading the temporary file), which it returns. May be called again.
  Status ForEach(const std::function<Status(const Whiteout&)>& visit) const;

  // Every whiteout at once, in memory: for lists known to be short.
  Result<std::vector<Whiteout>> ToVector() const;

  std::uint64_t size() const;
  bool empty() const { return size() == 0; }

 private:
  std::unique_ptr<RecordSpill> records_;
};

struct ExtractResult {
  std::string digest;           // "sha256:<64 hex>" of every byte read from the source
  std::uint64_t tar_bytes = 0;  // bytes read from the source, up to its end
  std::uint64_t entries = 0;    // tar entries processed, whiteouts included
  WhiteoutList whiteouts;
  // What the policy took away rather than refused, for the caller to say so: files whose
  // setuid/setgid bits were cleared (SetIdBits::kStrip), and files whose file capabilities
  // (security.capability) were dropped because the policy does not restore them.
  std::uint64_t set_id_stripped = 0;
  std::uint64_t capabilities_stripped = 0;
};

// Extracts the tar stream of `source` into `dest_root`, an existing empty directory, hashing every
// byte read from the source (through the end-of-archive blocks and anything after them, to the
// source's end) while extracting: the bytes extracted are the bytes hashed.
// On a refusal (a LayersErrc naming the entry) or an I/O or source error, `dest_root` may hold a
// partly extracted tree, which the caller removes; nothing outside it has been touched.
// Blocking; runs on the caller's thread.
Result<ExtractResult> ExtractLayer(ByteSource& source, const std::filesystem::path& dest_root,
                                   const ExtractPolicy& policy);

// True when `diff_id` is "sha256:" followed by exactly 64 lowercase hex digits.
bool IsValidDiffId(std::string_view diff_id);

// Extracts `source` into <layers_dir>/<hex>.partial/, syncs the tree, and only when the digest
// equals `expected_diff_id` renames it durably to <layers_dir>/<hex>/ (with kList whiteouts, the
// list is first written durably to <layers_dir>/<hex>.whiteouts, NUL-separated, opaque
// directories as "<dir>/.wh..wh..opq"). A leftover .partial from an earlier attempt is removed
// first. Fails with kBadDiffId before touching the disk when `expected_diff_id` is malformed, with
// kAlreadyExists (core) when the final directory exists, with kDigestMismatch on a wrong digest,
// or with the extraction's error; on every failure the .partial directory is removed.
Result<ExtractResult> StageLayer(ByteSource& source, const std::filesystem::path& layers_dir,
                                 std::string_view expected_diff_id, const ExtractPolicy& policy);

// Removes a directory tree without following symlinks (a .partial left by a crash or a refusal).
// Removing a missing path is not an error.
Status RemoveTree(const std::filesystem::path& path);

}  // namespace ferry::layers
