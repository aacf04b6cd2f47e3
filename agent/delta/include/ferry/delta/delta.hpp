// The layer delta engine: the publisher encodes a new layer tar against an old layer, the device
// rebuilds the new tar byte for byte from the delta and its unpacked old layer. The byte layout is
// in docs/delta-format.md.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <system_error>

#include "ferry/core/result.hpp"

namespace ferry::delta {

enum class DeltaErrc {
  kCorrupt = 1,      // the delta is malformed: bad magic, checksum, offset, length or stream
  kUnsupported,      // a format version or feature this decoder does not know
  kLimitExceeded,    // a field is beyond a documented limit of the format
  kOldFileMismatch,  // an old file the delta needs is missing or has another size
  kPathEscape,       // a path in the delta would leave the old layer directory
  kHashMismatch,     // the rebuilt tar does not have the sha256 the delta promises
  kBadInput,         // the encoder's input (old layer, new tar) cannot be read or parsed
};

const std::error_category& DeltaCategory() noexcept;
std::error_code make_error_code(DeltaErrc e) noexcept;  // NOLINT(readability-identifier-naming)

using Sha256 = std::array<std::uint8_t, 32>;
std::string HexDigest(const Sha256& digest);

// Where the decoder writes the rebuilt tar, in order, in chunks of at most 64 KiB.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Takes the next bytes of the output. An error stops decoding and is returned by ApplyDelta.
  virtual Status Write(std::span<const std::uint8_t> bytes) = 0;
};

// Adapts a callback to ByteSink.
class FunctionSink final : public ByteSink {
 public:
  explicit FunctionSink(std::function<Status(std::span<const std::uint8_t>)> fn)
      : fn_(std::move(fn)) {}
  Status Write(std::span<const std::uint8_t> bytes) override { return fn_(bytes); }

 private:
  std::function<Status(std::span<const std::uint8_t>)> fn_;
};

// The fixed header of a delta: what it rebuilds and from which base.
struct DeltaHeader {
  std::uint64_t new_size = 0;  // size of the rebuilt tar
  Sha256 new_sha256{};         // sha256 of the rebuilt tar (the layer's diff_id)
  Sha256 old_sha256{};         // sha256 of the old layer tar, all zero when the encoder had a dir
};

// Reads and checks the header of the delta file at `path` (magic, version, checksum, stream
// table against the file size). Fails with kCorrupt/kUnsupported, or an Errc::kIo error.
Result<DeltaHeader> ReadDeltaHeader(const std::filesystem::path& path);

// Rebuilds the new layer tar from the delta file at `delta_path`, reading old files from the
// unpacked layer directory `old_dir` (never following symlinks, never leaving it), and writes it
// to `sink` as it goes. Memory stays bounded (a few tens of MiB) whatever the layer size. Every
// field of the delta is checked: a corrupt or hostile delta gives a DeltaErrc error, never a crash.
// The sink may have received bytes before an error; the output is good only when this returns
// success, which includes a check of the rebuilt bytes' size and sha256 against the header.
// Blocking; safe to call from several threads on different inputs. When `stop_requested` (cheap,
// thread-safe; empty: never) turns true, decoding ends within a record or 64 KiB of output with
// Errc::kCancelled ("ferryd is stopping").
Status ApplyDelta(const std::filesystem::path& old_dir, const std::filesystem::path& delta_path,
                  ByteSink& sink, const std::function<bool()>& stop_requested = {});

// One regular file of the old layer, as the encoder indexes it.
struct OldFile {
  std::uint64_t offset = 0;  // of its content in the old tar (0 in an unpacked directory)
  std::uint64_t size = 0;
  std::uint64_t hash = 0;  // of its content, to find a file that moved without changing
};

// The old layer as the encoder sees it: its regular files by normalized path ("usr/bin/x", no
// leading "./" or "/"); hardlinks of the old tar appear under each of their names. Contents stay
// in `source` and are read one file at a time (ReadOldFile), so the layer is never held whole.
struct OldLayer {
  std::filesystem::path source;  // the old tar, or the unpacked directory
  bool is_directory = false;
  std::map<std::string, OldFile> files;
  Sha256 tar_sha256{};  // set when loaded from a tar
};

// Indexes an old layer from a tar file or an unpacked directory (symlinks are skipped). It reads
// every file once; `path` must stay in place, unchanged, until the last EncodeDelta with it.
Result<OldLayer> LoadOldLayer(const std::filesystem::path& path);

// The content of the old file `name` (an entry of layer.files). kBadInput when it cannot be read
// whole. Thread-safe.
Result<std::string> ReadOldFile(const OldLayer& layer, const std::string& name,
                                const OldFile& file);

// Workers for EncodeDelta by default: the number of cores.
unsigned DefaultEncodeJobs();

struct EncodeOptions {
  int xz_preset = 9;       // 0..9; the extreme flag is always set
  int zstd_level = 19;     // for zstd patch-from candidates
  unsigned jobs = 0;       // workers computing per-file candidates; 0: DefaultEncodeJobs()
  bool zstd_patch = true;  // consider zstd patch-from candidates
  bool sa_patch = true;    // consider suffix-array patch candidates
  bool gzip = true;        // rebuild gzip files that zlib reproduces from their content
  // Newest format version to write: 1 leaves out GZIP_BLOCKS records, for devices whose ferryd
  // decodes version 1 only (they refuse a newer delta and download the full layer instead).
  std::uint32_t max_version = 2;
};

// What the encoder chose, for reports and benchmarks.
struct EncodeStats {
  std::uint64_t new_size = 0;
  std::uint64_t delta_size = 0;
  std::uint64_t files = 0, unchanged = 0, full = 0, zstd_patch = 0, sa_patch = 0, renamed = 0;
  std::uint64_t gzip = 0;              // files rebuilt from their decompressed content
  std::uint64_t stream_sizes[4] = {};  // compressed bytes of each stream
};

// Writes a delta that rebuilds `new_tar` from `old` to `out` (temp file + rename). The new tar
// may be any tar (GNU, pax, ustar); bytes it cannot parse are carried as literal bytes. The delta
// is the same, byte for byte, whatever `options.jobs`. Memory stays bounded whatever the size of
// the layers: files are worked on a few at a time and the streams are spooled to unnamed temp
// files in the directory of `out` before they are compressed.
Result<EncodeStats> EncodeDelta(const OldLayer& old, const std::filesystem::path& new_tar,
                                const std::filesystem::path& out,
                                const EncodeOptions& options = {});

}  // namespace ferry::delta

template <>
struct std::is_error_code_enum<ferry::delta::DeltaErrc> : std::true_type {};
