// The delta decoder: four xz streams read front to back, old files read through bounded windows,
// output streamed to the sink. Memory: the four xz dictionaries (capped), one zstd prefix (capped),
// and 64 KiB buffers.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "ferry/delta/delta.hpp"
#include "format.hpp"
#include "gzip.hpp"
#include "gzip_blocks.hpp"
#include "header.hpp"
#include "old_dir.hpp"
#include "xz.hpp"

namespace ferry::delta {
namespace {

constexpr std::size_t kChunk = 64 * 1024;
const char* const kStreamNames[format::kStreamCount] = {"commands", "meta", "diff", "data"};

Status Corrupt(std::string message) { return Fail(DeltaErrc::kCorrupt, std::move(message)); }

Result<UniqueFd> OpenRead(const std::filesystem::path& path, int extra_flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
  if (fd < 0) {
    return Fail(ErrnoError("open " + path.string()));
  }
  return UniqueFd(fd);
}

Result<FullHeader> ReadHeaderFd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Fail(ErrnoError("stat delta"));
  }
  std::uint8_t buf[format::kHeaderSize];
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < format::kHeaderSize) {
    return Fail(DeltaErrc::kCorrupt, "delta is shorter than its header");
  }
  FERRY_TRY_STATUS(PreadExact(fd, 0, buf, sizeof(buf), "delta header"), "reading delta");
  return DecodeHeader(buf, sizeof(buf), size);
}

// Where a record's bytes go: the rebuilt tar, or memory (the content of a gzip member).
class Writer {
 public:
  virtual ~Writer() = default;
  virtual Status Write(std::span<const std::uint8_t> bytes) = 0;
};

// Collects up to `limit` bytes in memory.
class BufferWriter final : public Writer {
 public:
  BufferWriter(std::vector<std::uint8_t>& buf, std::uint64_t limit) : buf_(buf), limit_(limit) {}
  Status Write(std::span<const std::uint8_t> bytes) override {
    if (bytes.size() > limit_ - buf_.size()) {
      return Corrupt("record produces more bytes than it declares");
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    return Ok();
  }

 private:
  std::vector<std::uint8_t>& buf_;
  std::uint64_t limit_;
};

// Counts, hashes and forwards the rebuilt bytes; refuses to go past the declared size.
class Output final : public Writer {
 public:
  Output(ByteSink& sink, std::uint64_t limit, const std::function<bool()>& stop_requested)
      : sink_(sink), limit_(limit), stop_requested_(stop_requested), sha_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr);
  }
  ~Output() { EVP_MD_CTX_free(sha_); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  Status Write(std::span<const std::uint8_t> bytes) override {
    if (StopRequested()) {
      return Fail(Errc::kCancelled, "ferryd is stopping");
    }
    if (bytes.size() > limit_ - written_) {
      return Corrupt("delta produces more bytes than its header declares");
    }
    written_ += bytes.size();
    EVP_DigestUpdate(sha_, bytes.data(), bytes.size());
    return sink_.Write(bytes);
  }
  std::uint64_t written() const { return written_; }
  bool StopRequested() const { return stop_requested_ && stop_requested_(); }
  Sha256 Digest() {
    Sha256 out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(sha_, out.data(), &len);
    return out;
  }

 private:
  ByteSink& sink_;
  std::uint64_t limit_;
  std::uint64_t written_ = 0;
  const std::function<bool()>& stop_requested_;
  EVP_MD_CTX* sha_;
};

struct OldFile {
  std::string path;
  std::uint64_t size = 0;
};

// The old bytes a patch applies to: a file of the old layer, or a decompressed gzip member.
struct OldBytes {
  int fd = -1;
  std::span<const std::uint8_t> memory;
  std::uint64_t size = 0;
  std::string name;

  Status Read(std::uint64_t offset, std::uint8_t* out, std::size_t n) const {
    if (fd >= 0) {
      return PreadExact(fd, offset, out, n, name);
    }
    if (offset > memory.size() || n > memory.size() - offset) {
      return Corrupt("read outside the old content");
    }
    std::memcpy(out, memory.data() + offset, n);
    return Ok();
  }
};

class Decoder {
 public:
  Decoder(int delta_fd, int old_root, const FullHeader& header, ByteSink& sink,
          const std::function<bool()>& stop_requested)
      : old_root_(old_root),
        header_(header),
        out_(sink, header.info.new_size, stop_requested),
        buf_(kChunk),
        buf2_(kChunk) {
    std::uint64_t offset = format::kHeaderSize;
    for (std::size_t i = 0; i < format::kStreamCount; ++i) {
      const StreamExtent& s = header.streams[i];
      streams_[i] = std::make_unique<XzReader>(delta_fd, offset, s.compressed_size, s.raw_size,
                                               format::kDictCap[i] + format::kDecoderMemSlack,
                                               kStreamNames[i]);
      offset += s.compressed_size;
    }
  }

  Status Run() {
    while (true) {
      if (out_.StopRequested()) {
        return Fail(Errc::kCancelled, "ferryd is stopping");
      }
      auto op = Byte();
      if (!op) {
        return Fail(op.error());
      }
      switch (*op) {
        case format::kEnd:
          return Finish();
        case format::kLiteral:
          FERRY_TRY_STATUS(Pass(format::kMeta), "literal record");
          break;
        case format::kFull:
          FERRY_TRY_STATUS(Pass(format::kData), "full-file record");
          break;
        case format::kCopy:
          FERRY_TRY_STATUS(Copy(), "copy record");
          break;
        case format::kZstdPatch:
          FERRY_TRY_STATUS(ZstdPatch(), "zstd patch record");
          break;
        case format::kSaPatch:
          FERRY_TRY_STATUS(SaPatch(), "suffix-array patch record");
          break;
        case format::kOldPath:
          FERRY_TRY_STATUS(DefineOldPath(), "old path record");
          break;
        case format::kGzip:
          FERRY_TRY_STATUS(Gzip(false), "gzip record");
          break;
        case format::kGzipBlocks:
          if (header_.version < format::kVersionGzipBlocks) {
            return Corrupt("gzip-blocks record in a version 1 delta");
          }
          FERRY_TRY_STATUS(Gzip(true), "gzip-blocks record");
          break;
        default:
          return Corrupt("unknown record type " + std::to_string(*op));
      }
    }
  }

 private:
  XzReader& S(std::size_t i) { return *streams_[i]; }

  Result<std::uint8_t> Byte() {
    std::uint8_t b = 0;
    FERRY_TRY_STATUS(S(format::kCommands).Read({&b, 1}), "reading commands");
    return b;
  }

  Result<std::uint64_t> Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      auto b = Byte();
      if (!b) {
        return Fail(b.error());
      }
      if (shift == 63 && (*b & 0x7e) != 0) {
        return Fail(DeltaErrc::kCorrupt, "varint overflows 64 bits");
      }
      v |= static_cast<std::uint64_t>(*b & 0x7f) << shift;
      if ((*b & 0x80) == 0) {
        return v;
      }
    }
    return Fail(DeltaErrc::kCorrupt, "varint longer than 10 bytes");
  }

  Result<std::uint64_t> Length() {
    auto len = Varint();
    if (len && *len > header_.info.new_size - out_.written()) {
      return Fail(DeltaErrc::kCorrupt, "record length runs past the end of the new tar");
    }
    return len;
  }

  Status PassN(std::size_t stream, std::uint64_t len, Writer& out) {
    while (len > 0) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, kChunk));
      FERRY_TRY_STATUS(S(stream).Read({buf_.data(), n}), "reading delta");
      FERRY_TRY_STATUS(out.Write({buf_.data(), n}), "writing output");
      len -= n;
    }
    return Ok();
  }

  Status Pass(std::size_t stream) {
    auto len = Length();
    if (!len) {
      return Fail(len.error());
    }
    return PassN(stream, *len, out_);
  }

  Status DefineOldPath() {
    if (old_files_.size() >= format::kMaxOldFiles) {
      return Fail(DeltaErrc::kLimitExceeded, "too many old files");
    }
    auto size = Varint();
    if (!size) {
      return Fail(size.error());
    }
    auto len = Varint();
    if (!len) {
      return Fail(len.error());
    }
    if (*len > format::kMaxPathLen) {
      return Fail(DeltaErrc::kLimitExceeded, "old path longer than 4096 bytes");
    }
    std::string path(*len, '\0');
    FERRY_TRY_STATUS(
        S(format::kCommands).Read({reinterpret_cast<std::uint8_t*>(path.data()), path.size()}),
        "reading old path");
    if (!IsSafeRelativePath(path)) {
      return Fail(DeltaErrc::kPathEscape, "old file path '" + path + "' is not allowed");
    }
    old_files_.push_back({std::move(path), *size});
    return Ok();
  }

  // Opens old file `index` and checks its size against the path table.
  Result<UniqueFd> OpenOldIndex(std::uint64_t index) {
    if (index >= old_files_.size()) {
      return Fail(DeltaErrc::kCorrupt, "old file index out of range");
    }
    const OldFile& old = old_files_[index];
    auto fd = OpenBeneath(old_root_, old.path);
    if (!fd) {
      return Fail(fd.error());
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) {
      return Fail(ErrnoError("stat old file " + old.path));
    }
    if (static_cast<std::uint64_t>(st.st_size) != old.size) {
      return Fail(DeltaErrc::kOldFileMismatch,
                  "old file '" + old.path + "' has " + std::to_string(st.st_size) +
                      " bytes, the delta expects " + std::to_string(old.size));
    }
    return fd;
  }

  // Reads an old file index from the commands and opens that file.
  Result<std::pair<UniqueFd, OldBytes>> OpenOld() {
    auto index = Varint();
    if (!index) {
      return Fail(index.error());
    }
    auto fd = OpenOldIndex(*index);
    if (!fd) {
      return Fail(fd.error());
    }
    const OldFile& old = old_files_[*index];
    OldBytes bytes{fd->get(), {}, old.size, old.path};
    return std::pair<UniqueFd, OldBytes>(std::move(*fd), std::move(bytes));
  }

  Status Copy() {
    auto old = OpenOld();
    if (!old) {
      return Fail(old.error());
    }
    auto len = Length();
    if (!len) {
      return Fail(len.error());
    }
    if (*len != old->second.size) {
      return Corrupt("copy length differs from the old file's size");
    }
    for (std::uint64_t pos = 0; pos < *len;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(*len - pos, kChunk));
      FERRY_TRY_STATUS(old->second.Read(pos, buf_.data(), n), "copying");
      FERRY_TRY_STATUS(out_.Write({buf_.data(), n}), "writing output");
      pos += n;
    }
    return Ok();
  }

  Status ZstdPatch() {
    auto old = OpenOld();
    if (!old) {
      return Fail(old.error());
    }
    auto new_len = Length();
    if (!new_len) {
      return Fail(new_len.error());
    }
    return ZstdBody(old->second, *new_len, out_);
  }

  Status SaPatch() {
    auto old = OpenOld();
    if (!old) {
      return Fail(old.error());
    }
    auto new_len = Length();
    if (!new_len) {
      return Fail(new_len.error());
    }
    return SaBody(old->second, *new_len, out_);
  }

  // The frame_len field and the frame; `new_len` bytes to `out`.
  Status ZstdBody(const OldBytes& old, std::uint64_t new_len, Writer& out) {
    auto frame_len = Varint();
    if (!frame_len) {
      return Fail(frame_len.error());
    }
    if (old.size > format::kMaxZstdPatchSize || new_len > format::kMaxZstdPatchSize ||
        *frame_len > 2 * format::kMaxZstdPatchSize) {
      return Fail(DeltaErrc::kLimitExceeded, "zstd patch beyond the 8 MiB limit");
    }
    // An old file is read into memory (at most 8 MiB); decompressed gzip content already is.
    std::vector<std::uint8_t> file_bytes;
    std::span<const std::uint8_t> prefix = old.memory;
    if (old.fd >= 0) {
      file_bytes.resize(old.size);
      FERRY_TRY_STATUS(old.Read(0, file_bytes.data(), file_bytes.size()), "reading old file");
      prefix = file_bytes;
    }
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!dctx ||
        ZSTD_isError(
            ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, format::kZstdWindowLogMax)) ||
        ZSTD_isError(ZSTD_DCtx_refPrefix(dctx.get(), prefix.data(), prefix.size()))) {
      return Corrupt("cannot set up the zstd decoder");
    }
    std::uint64_t in_left = *frame_len, produced = 0;
    ZSTD_inBuffer in{buf2_.data(), 0, 0};
    std::size_t ret = 1;
    while (ret != 0) {
      if (in.pos == in.size && in_left > 0) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(in_left, kChunk));
        FERRY_TRY_STATUS(S(format::kData).Read({buf2_.data(), n}), "reading zstd frame");
        in = {buf2_.data(), n, 0};
        in_left -= n;
      }
      ZSTD_outBuffer zout{buf_.data(), kChunk, 0};
      std::size_t in_before = in.pos;
      ret = ZSTD_decompressStream(dctx.get(), &zout, &in);
      if (ZSTD_isError(ret)) {
        return Corrupt(std::string("zstd: ") + ZSTD_getErrorName(ret));
      }
      if (zout.pos > new_len - produced) {
        return Corrupt("zstd frame decodes to more than the record's length");
      }
      produced += zout.pos;
      FERRY_TRY_STATUS(out.Write({buf_.data(), zout.pos}), "writing output");
      if (ret != 0 && in_left == 0 && in.pos == in.size && zout.pos == 0 && in.pos == in_before) {
        return Corrupt("zstd frame is truncated");
      }
    }
    if (in_left != 0 || in.pos != in.size) {
      return Corrupt("bytes after the end of the zstd frame");
    }
    if (produced != new_len) {
      return Corrupt("zstd frame decodes to fewer bytes than the record's length");
    }
    return Ok();
  }

  // The triple count and triples; `new_len` bytes to `out`.
  Status SaBody(const OldBytes& old, std::uint64_t new_len, Writer& out) {
    auto count = Varint();
    if (!count) {
      return Fail(count.error());
    }
    if (*count > new_len + 1) {
      return Corrupt("more control triples than bytes");
    }
    std::uint64_t produced = 0;
    std::int64_t old_pos = 0;
    for (std::uint64_t i = 0; i < *count; ++i) {
      auto add = Varint();
      auto copy = add ? Varint() : add;
      auto seek = copy ? Varint() : copy;
      if (!seek) {
        return Fail(seek.error());
      }
      if (*add > new_len - produced || *copy > new_len - produced - *add) {
        return Corrupt("control triple runs past the record's length");
      }
      if (old_pos < 0 || static_cast<std::uint64_t>(old_pos) > old.size ||
          *add > old.size - static_cast<std::uint64_t>(old_pos)) {
        return Corrupt("control triple reads outside the old file");
      }
      for (std::uint64_t done = 0; done < *add;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(*add - done, kChunk));
        FERRY_TRY_STATUS(old.Read(static_cast<std::uint64_t>(old_pos) + done, buf2_.data(), n),
                         "reading old file");
        FERRY_TRY_STATUS(S(format::kDiff).Read({buf_.data(), n}), "reading diff");
        for (std::size_t k = 0; k < n; ++k) {
          buf_[k] = static_cast<std::uint8_t>(buf_[k] + buf2_[k]);
        }
        FERRY_TRY_STATUS(out.Write({buf_.data(), n}), "writing output");
        done += n;
      }
      old_pos += static_cast<std::int64_t>(*add);
      FERRY_TRY_STATUS(PassN(format::kData, *copy, out), "extra bytes");
      produced += *add + *copy;
      std::int64_t delta = format::UnZigZag(*seek);
      if (delta > static_cast<std::int64_t>(format::kMaxSeek) ||
          delta < -static_cast<std::int64_t>(format::kMaxSeek)) {
        return Corrupt("seek beyond the format's limit");
      }
      old_pos += delta;
    }
    if (produced != new_len) {
      return Corrupt("control triples do not add up to the record's length");
    }
    return Ok();
  }

  // Decompresses an old gzip file into memory, at most kMaxGzipContent bytes.
  Status InflateOld(int fd, std::uint64_t size, const std::string& name,
                    std::vector<std::uint8_t>& out) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
      return Corrupt("cannot set up inflate");
    }
    std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&zs, inflateEnd);
    std::uint64_t in_pos = 0;
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
      if (zs.avail_in == 0) {
        if (in_pos >= size) {
          return Fail(DeltaErrc::kOldFileMismatch, "old file '" + name + "' is not a whole gzip");
        }
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size - in_pos, kChunk));
        FERRY_TRY_STATUS(PreadExact(fd, in_pos, buf2_.data(), n, name), "reading old gzip");
        in_pos += n;
        zs.next_in = buf2_.data();
        zs.avail_in = static_cast<uInt>(n);
      }
      zs.next_out = buf_.data();
      zs.avail_out = static_cast<uInt>(kChunk);
      ret = inflate(&zs, Z_NO_FLUSH);
      if (ret != Z_OK && ret != Z_STREAM_END) {
        return Fail(DeltaErrc::kOldFileMismatch, "old file '" + name + "' is not valid gzip");
      }
      std::size_t n = kChunk - zs.avail_out;
      if (n > kMaxGzipContent - out.size()) {
        return Fail(DeltaErrc::kLimitExceeded, "old gzip content beyond 8 MiB");
      }
      out.insert(out.end(), buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return Ok();
  }

  Status Gzip(bool with_blocks) {
    auto old_plus_one = Varint();
    auto new_len = old_plus_one ? Length() : old_plus_one;
    auto header_len = new_len ? Varint() : new_len;
    auto level = header_len ? Varint() : header_len;
    auto mem_level = level ? Varint() : level;
    auto inner_len = mem_level ? Varint() : mem_level;
    if (!inner_len) {
      return Fail(inner_len.error());
    }
    std::vector<std::uint64_t> block_ends;
    if (with_blocks) {
      FERRY_TRY_STATUS(GzipBlockEnds(*inner_len, block_ends), "gzip block ends");
    }
    auto inner_kind = Byte();
    if (!inner_kind) {
      return Fail(inner_kind.error());
    }
    if (*header_len > kMaxGzipHeader || *header_len + 8 > *new_len || *level < 1 || *level > 9 ||
        *mem_level < 1 || *mem_level > 9) {
      return Corrupt("gzip record fields out of range");
    }
    if (*inner_len > kMaxGzipContent) {
      return Fail(DeltaErrc::kLimitExceeded, "gzip content beyond 8 MiB");
    }
    std::vector<std::uint8_t> old_content;
    OldBytes old;
    if (*old_plus_one != 0) {
      auto fd = OpenOldIndex(*old_plus_one - 1);
      if (!fd) {
        return Fail(fd.error());
      }
      const OldFile& file = old_files_[*old_plus_one - 1];
      FERRY_TRY_STATUS(InflateOld(fd->get(), file.size, file.path, old_content), "old gzip");
      old = OldBytes{-1, old_content, old_content.size(), file.path};
    }
    std::vector<std::uint8_t> content;
    BufferWriter content_out(content, *inner_len);
    switch (*inner_kind) {
      case format::kFull:
        FERRY_TRY_STATUS(PassN(format::kData, *inner_len, content_out), "gzip content");
        break;
      case format::kZstdPatch:
      case format::kSaPatch:
        if (*old_plus_one == 0) {
          return Corrupt("gzip patch without an old file");
        }
        if (*inner_kind == format::kZstdPatch) {
          FERRY_TRY_STATUS(ZstdBody(old, *inner_len, content_out), "gzip content");
        } else {
          FERRY_TRY_STATUS(SaBody(old, *inner_len, content_out), "gzip content");
        }
        break;
      default:
        return Corrupt("unknown gzip content type " + std::to_string(*inner_kind));
    }
    if (content.size() != *inner_len) {
      return Corrupt("gzip content shorter than declared");
    }
    old_content = {};
    std::uint64_t written = 0;
    auto emit = [&](std::span<const std::uint8_t> bytes) -> Status {
      if (bytes.size() > *new_len - written) {
        return Corrupt("gzip member longer than the record's length");
      }
      written += bytes.size();
      return out_.Write(bytes);
    };
    std::vector<std::uint8_t> header(*header_len);
    FERRY_TRY_STATUS(S(format::kMeta).Read(header), "gzip header");
    FERRY_TRY_STATUS(emit(header), "gzip header");
    FERRY_TRY_STATUS(with_blocks ? DeflateRawBlocks(content, static_cast<int>(*level),
                                                    static_cast<int>(*mem_level), block_ends, emit)
                                 : DeflateRaw(content, static_cast<int>(*level),
                                              static_cast<int>(*mem_level), emit),
                     "compressing gzip content");
    auto trailer = GzipTrailer(content);
    FERRY_TRY_STATUS(emit(trailer), "gzip trailer");
    if (written != *new_len) {
      return Corrupt("gzip member shorter than the record's length");
    }
    return Ok();
  }

  // `count`, then `count` block lengths, each at least 1, together less than `content_len`.
  Status GzipBlockEnds(std::uint64_t content_len, std::vector<std::uint64_t>& ends) {
    auto count = Varint();
    if (!count) {
      return Fail(count.error());
    }
    if (*count == 0 || *count > kMaxGzipBlocks) {
      return Corrupt("gzip block count " + std::to_string(*count) + " out of range");
    }
    ends.reserve(static_cast<std::size_t>(*count));
    std::uint64_t at = 0;
    for (std::uint64_t i = 0; i < *count; ++i) {
      auto len = Varint();
      if (!len) {
        return Fail(len.error());
      }
      if (*len == 0 || *len >= content_len - at) {
        return Corrupt("gzip block ends past the content");
      }
      at += *len;
      ends.push_back(at);
    }
    return Ok();
  }

  Status Finish() {
    for (std::size_t i = 0; i < format::kStreamCount; ++i) {
      FERRY_TRY_STATUS(S(i).Finish(), "after the last record");
    }
    if (out_.written() != header_.info.new_size) {
      return Corrupt("delta ends before the size its header declares");
    }
    if (out_.Digest() != header_.info.new_sha256) {
      return Fail(DeltaErrc::kHashMismatch,
                  "rebuilt tar does not match sha256:" + HexDigest(header_.info.new_sha256));
    }
    return Ok();
  }

  int old_root_;
  const FullHeader& header_;
  Output out_;
  std::unique_ptr<XzReader> streams_[format::kStreamCount];
  std::vector<OldFile> old_files_;
  std::vector<std::uint8_t> buf_, buf2_;
};

}  // namespace

Result<DeltaHeader> ReadDeltaHeader(const std::filesystem::path& path) {
  auto fd = OpenRead(path, 0);
  if (!fd) {
    return Fail(fd.error());
  }
  auto header = ReadHeaderFd(fd->get());
  if (!header) {
    return Fail(std::move(header.error()).WithContext(path.string()));
  }
  return header->info;
}

Status ApplyDelta(const std::filesystem::path& old_dir, const std::filesystem::path& delta_path,
                  ByteSink& sink, const std::function<bool()>& stop_requested) {
  auto delta_fd = OpenRead(delta_path, 0);
  if (!delta_fd) {
    return Fail(delta_fd.error());
  }
  auto header = ReadHeaderFd(delta_fd->get());
  if (!header) {
    return Fail(std::move(header.error()).WithContext(delta_path.string()));
  }
  auto root = OpenRead(old_dir, O_DIRECTORY);
  if (!root) {
    return Fail(root.error());
  }
  Decoder decoder(delta_fd->get(), root->get(), *header, sink, stop_requested);
  FERRY_TRY_STATUS(decoder.Run(), "applying delta " + delta_path.string());
  return Ok();
}

}  // namespace ferry::delta
