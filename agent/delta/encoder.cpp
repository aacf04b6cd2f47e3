// The delta encoder: per file, the smallest of unchanged, full, zstd patch-from and suffix-array
// patch by measured size, files worked on in parallel and written out in order; then the four
// streams of the whole layer, spooled to temp files, compressed solid with xz.
#include <openssl/evp.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ferry/core/fs.hpp"
#include "ferry/delta/delta.hpp"
#include "format.hpp"
#include "gzip.hpp"
#include "gzip_blocks.hpp"
#include "header.hpp"
#include "input_file.hpp"
#include "mapped_file.hpp"
#include "matcher.hpp"
#include "sa_diff.hpp"
#include "spool.hpp"
#include "tar_scan.hpp"
#include "xz.hpp"

namespace ferry::delta {
namespace {

enum class Kind { kFull, kCopy, kZstd, kSa };

// xz encoders running at once at the end: each needs up to about 94 MiB (preset 9, 8 MiB
// dictionary), so two keep the encoder's peak memory within its budget.
constexpr unsigned kMaxXzJobs = 2;

// One way to produce some bytes: as they are, or as a patch of old bytes.
struct Payload {
  Kind kind = Kind::kFull;
  std::uint64_t cost = 0;  // estimated compressed size
  std::string zstd_frame;
  SaPatch sa;
};

// A gzip member rebuilt from its content (see gzip.hpp).
struct GzipPlan {
  std::size_t header_len = 0;
  int level = 9, mem_level = 8;
  std::string content;
  bool with_old = false;
  Payload inner;
  std::vector<std::uint64_t> block_ends;  // non-empty: a GZIP_BLOCKS record
};

struct Choice {
  Matcher::Match match;
  Payload plain;
  std::optional<GzipPlan> gzip;
};

std::string ControlBytes(const SaPatch& patch) {
  std::string out;
  for (const SaControl& c : patch.controls) {
    format::PutVarint(out, c.add);
    format::PutVarint(out, c.copy);
    format::PutVarint(out, format::ZigZag(c.seek));
  }
  return out;
}

std::string ZstdPatchFrame(std::string_view old_data, std::string_view new_data, int level) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  int window_log = 10;
  while ((std::uint64_t{1} << window_log) < old_data.size() + new_data.size() &&
         window_log < format::kZstdWindowLogMax) {
    ++window_log;
  }
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_enableLongDistanceMatching, 1);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, window_log);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_refPrefix(cctx.get(), old_data.data(), old_data.size());
  std::string out(ZSTD_compressBound(new_data.size()), '\0');
  std::size_t n =
      ZSTD_compress2(cctx.get(), out.data(), out.size(), new_data.data(), new_data.size());
  if (ZSTD_isError(n)) {
    return {};
  }
  out.resize(n);
  return out;
}

// zstd's level 19 takes about twice the time of level 16 on files over 1 MiB. Measured with
// level 16 there: the generated 64 MB pair's delta grew by 104 bytes (3,133,300 to 3,133,404),
// where level 12 lost 9.5 % (its frames of binary data are larger, and worse suffix-array patches
// won the estimate instead).
constexpr std::uint64_t kZstdFullLevelMaxSize = 1u << 20;
constexpr int kZstdLargeFileLevel = 16;

int ZstdLevelFor(std::uint64_t size, const EncodeOptions& options) {
  return size <= kZstdFullLevelMaxSize ? options.zstd_level
                                       : std::min(options.zstd_level, kZstdLargeFileLevel);
}

// Where a suffix-array patch can beat the zstd patch, measured on the Debian bench pair (874 files,
// every candidate computed for each): it won by 694 KB in all, all of it on files of 16 KiB or
// more whose zstd patch was 5 % to 72 % of the file's full estimate (binaries and libraries with
// scattered small changes), and by 27 bytes in all elsewhere. Below 4 % zstd already describes
// the change in a few hundred bytes (170 files); above 80 % the files hardly share anything (154
// files; on the generated pair a rewritten 6 MB file took 100 s in the suffix-array scan for no
// gain). Files with no zstd patch to compare with (beyond its 8 MiB limit, or zstd patches turned
// off) are always tried, up to kSaMaxSize: the suffix array takes 4 bytes a byte of the old file.
constexpr std::uint64_t kSaMinSize = 16u << 10;
constexpr std::uint64_t kSaMaxSize = 24u << 20;
constexpr double kSaMinZstdShare = 0.04, kSaMaxZstdShare = 0.8;

bool SaPatchCanWin(std::uint64_t old_size, std::uint64_t new_size, std::uint64_t full_cost,
                   std::optional<std::uint64_t> zstd_cost) {
  if (old_size > kSaMaxSize) {
    return false;
  }
  if (!zstd_cost || full_cost == 0) {
    return true;  // the only patch there is
  }
  if (new_size < kSaMinSize) {
    return false;
  }
  const double share = static_cast<double>(*zstd_cost) / static_cast<double>(full_cost);
  return share >= kSaMinZstdShare && share < kSaMaxZstdShare;
}

// The smallest of full, zstd patch and suffix-array patch of `content` against `old_data`
// (null: no old bytes).
Payload BestPayload(const std::string_view* old_data, std::string_view content,
                    const EncodeOptions& options) {
  Payload best;
  best.cost = LzmaEstimate(content);
  if (old_data == nullptr || old_data->empty()) {
    return best;
  }
  const std::uint64_t full_cost = best.cost;
  std::optional<std::uint64_t> zstd_cost;
  if (options.zstd_patch && old_data->size() <= format::kMaxZstdPatchSize &&
      content.size() <= format::kMaxZstdPatchSize) {
    std::string frame = ZstdPatchFrame(*old_data, content, ZstdLevelFor(content.size(), options));
    if (!frame.empty()) {
      zstd_cost = frame.size();
      if (frame.size() < best.cost) {
        best.kind = Kind::kZstd;
        best.cost = frame.size();
        best.zstd_frame = std::move(frame);
      }
    }
  }
  if (options.sa_patch && SaPatchCanWin(old_data->size(), content.size(), full_cost, zstd_cost)) {
    SaPatch patch = SaDiff(*old_data, content);
    std::uint64_t cost =
        LzmaEstimate(ControlBytes(patch)) + LzmaEstimate(patch.diff) + LzmaEstimate(patch.extra);
    if (cost < best.cost) {
      best.kind = Kind::kSa;
      best.cost = cost;
      best.sa = std::move(patch);
      best.zstd_frame.clear();
    }
  }
  return best;
}

Result<Choice> Choose(const OldLayer& old, const Matcher& matcher, const std::string& path,
                      std::string_view content, const EncodeOptions& options) {
  Choice choice;
  choice.match = matcher.Find(path, content);
  std::optional<std::string> old_bytes;
  if (choice.match.file != nullptr) {
    auto read = ReadOldFile(old, *choice.match.path, *choice.match.file);
    if (!read) {
      return Fail(read.error());
    }
    old_bytes = std::move(*read);
    if (*old_bytes == content) {
      choice.plain.kind = Kind::kCopy;
      return choice;
    }
  }
  std::optional<std::string_view> old_data;
  if (old_bytes) {
    old_data = *old_bytes;
  }
  choice.plain = BestPayload(old_data ? &*old_data : nullptr, content, options);
  if (options.gzip) {
    std::optional<GzipMember> member = ReproducibleGzip(content);
    std::vector<std::uint64_t> block_ends;
    if (!member && options.max_version >= format::kVersionGzipBlocks) {
      if (auto blocks = ReproducibleGzipBlocks(content)) {
        member = std::move(blocks->member);
        block_ends = std::move(blocks->block_ends);
      }
    }
    if (member) {
      std::optional<std::string> old_content;
      if (old_data) {
        old_content = Gunzip(*old_data, kMaxGzipContent);
      }
      std::string_view old_view = old_content ? std::string_view(*old_content) : std::string_view();
      GzipPlan plan{member->header_len,
                    member->level,
                    member->mem_level,
                    std::move(member->content),
                    old_content.has_value(),
                    {},
                    {}};
      plan.inner = BestPayload(old_content ? &old_view : nullptr, plan.content, options);
      plan.block_ends = std::move(block_ends);
      if (plan.inner.cost + plan.header_len < choice.plain.cost) {
        choice.gzip = std::move(plan);
        choice.plain = {};
      }
    }
  }
  if (choice.plain.kind == Kind::kFull && !(choice.gzip && choice.gzip->with_old)) {
    choice.match = {};
  }
  return choice;
}

// The four streams as the files are written out in order. The difference stream, the largest and
// slowest to compress (mostly zero bytes, where xz's extreme mode spends its time), is compressed
// on a thread of its own meanwhile; the others are spooled raw to temp files and compressed at the
// end. The first write error is kept and reported once.
class StreamSpools {
 public:
  Status Create(const std::filesystem::path& dir, int xz_preset) {
    for (std::size_t s = 0; s < format::kStreamCount; ++s) {
      auto created = Spool::Create(dir);
      if (!created) {
        return Fail(created.error());
      }
      if (s == format::kDiff) {
        diff_ = std::make_unique<XzWriter>(std::move(*created), xz_preset, kDiffDict);
      } else {
        spools_[s] = std::move(*created);
      }
    }
    return Ok();
  }
  void Put(std::size_t stream, std::string_view bytes) {
    if (stream == format::kDiff) {
      diff_->Append(bytes);
    } else if (status_) {
      status_ = spools_[stream].Append(bytes);
    }
  }
  // Flushes the raw spools and returns the compressed difference stream.
  Result<Spool> Finish() {
    for (auto& spool : spools_) {
      if (status_) {
        status_ = spool.Flush();
      }
    }
    auto diff = diff_->Finish();
    if (!status_) {
      return Fail(status_.error());
    }
    return diff;
  }
  std::uint64_t raw_size(std::size_t stream) const {
    return stream == format::kDiff ? diff_->raw_size() : spools_[stream].size();
  }
  const Spool& operator[](std::size_t stream) const { return spools_[stream]; }

 private:
  // Measured on the Debian bench pair's 22.5 MB difference stream: 801,068 bytes with a 2 MiB
  // dictionary, 801,480 with 8 MiB; the smaller one keeps this encoder at about 24 MiB.
  static constexpr std::uint32_t kDiffDict = 2u << 20;

  std::array<Spool, format::kStreamCount> spools_;
  std::unique_ptr<XzWriter> diff_;
  Status status_ = Ok();
};

// Appends the fields and payload of a full, zstd or suffix-array body (after its old index and
// length): fields to `cmd`, bytes to the streams.
void EmitBody(const Payload& p, std::string_view content, std::string& cmd, StreamSpools& out) {
  switch (p.kind) {
    case Kind::kFull:
    case Kind::kCopy:
      out.Put(format::kData, content);
      break;
    case Kind::kZstd:
      format::PutVarint(cmd, p.zstd_frame.size());
      out.Put(format::kData, p.zstd_frame);
      break;
    case Kind::kSa:
      format::PutVarint(cmd, p.sa.controls.size());
      cmd += ControlBytes(p.sa);
      out.Put(format::kDiff, p.sa.diff);
      out.Put(format::kData, p.sa.extra);
      break;
  }
}

format::Op OpOf(Kind kind) {
  switch (kind) {
    case Kind::kFull:
      return format::kFull;
    case Kind::kCopy:
      return format::kCopy;
    case Kind::kZstd:
      return format::kZstdPatch;
    case Kind::kSa:
      return format::kSaPatch;
  }
  return format::kFull;
}

// What one file's candidates may hold in memory at once, as a multiple of its size: its old
// version, a suffix array (4 bytes a byte), the patches, and the estimate's match finder.
std::uint64_t WorkMemory(std::uint64_t size) { return 12 * size + (4u << 20); }

// Files in flight (claimed by a worker, not yet written out) may together claim this much memory;
// the next file to write out is always started, however large, so that the encoder goes on.
constexpr std::uint64_t kWorkBudget = 160u << 20;

// Per-file work on `jobs` workers, handed to the caller strictly in the tar's order, with at most
// kWorkBudget of work in flight; the output therefore does not depend on the number of workers.
class FilePipeline {
 public:
  FilePipeline(const OldLayer& old, const Matcher& matcher, std::string_view tar,
               const std::vector<const TarRegion*>& files, const EncodeOptions& options)
      : old_(old),
        matcher_(matcher),
        tar_(tar),
        files_(files),
        options_(options),
        results_(files.size()) {}

  void Start(unsigned jobs) {
    for (unsigned i = 0; i < jobs; ++i) {
      workers_.emplace_back([this] { Work(); });
    }
  }

  // The choice for file k; k must be 0, 1, 2, … in turn.
  Result<Choice> Take(std::size_t k) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return results_[k].has_value(); });
    Result<Choice> out = std::move(*results_[k]);
    results_[k].reset();
    in_flight_ -= WorkMemory(files_[k]->size);
    next_emit_ = k + 1;
    cv_.notify_all();
    return out;
  }

  ~FilePipeline() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }

 private:
  void Work() {
    for (;;) {
      std::size_t k = 0;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] {
          return stop_ || next_claim_ >= files_.size() || next_claim_ == next_emit_ ||
                 in_flight_ + WorkMemory(files_[next_claim_]->size) <= kWorkBudget;
        });
        if (stop_ || next_claim_ >= files_.size()) {
          return;
        }
        k = next_claim_++;
        in_flight_ += WorkMemory(files_[k]->size);
      }
      const TarRegion& r = *files_[k];
      Result<Choice> choice =
          Choose(old_, matcher_, r.path, tar_.substr(r.offset, r.size), options_);
      {
        std::lock_guard lock(mu_);
        results_[k] = std::move(choice);
      }
      cv_.notify_all();
    }
  }

  const OldLayer& old_;
  const Matcher& matcher_;
  std::string_view tar_;
  const std::vector<const TarRegion*>& files_;
  const EncodeOptions& options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<Result<Choice>>> results_;
  std::size_t next_claim_ = 0, next_emit_ = 0;
  std::uint64_t in_flight_ = 0;
  bool stop_ = false;
  std::vector<std::jthread> workers_;  // last: joined before the members they use go
};

// Compresses the raw streams (all but the difference stream, done already), at most `jobs` at a
// time, largest first.
Result<std::array<Spool, format::kStreamCount>> CompressStreams(const StreamSpools& raw, Spool diff,
                                                                const std::filesystem::path& dir,
                                                                int preset, unsigned jobs) {
  std::array<Spool, format::kStreamCount> out;
  std::vector<std::size_t> order;
  for (std::size_t s = 0; s < format::kStreamCount; ++s) {
    if (s == format::kDiff) {
      out[s] = std::move(diff);
      continue;
    }
    auto created = Spool::Create(dir);
    if (!created) {
      return Fail(created.error());
    }
    out[s] = std::move(*created);
    order.push_back(s);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return raw.raw_size(a) > raw.raw_size(b); });
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::optional<Error> failure;
  auto work = [&] {
    for (std::size_t j = next++; j < order.size(); j = next++) {
      std::size_t s = order[j];
      if (auto st = XzCompressSpool(raw[s], out[s], preset, format::kDictCap[s]); !st) {
        std::lock_guard lock(mu);
        failure = st.error();
      }
    }
  };
  {
    std::vector<std::jthread> workers;
    for (unsigned t = 1; t < jobs; ++t) {
      workers.emplace_back(work);
    }
    work();
  }
  if (failure) {
    return Fail(*failure);
  }
  return out;
}

}  // namespace

Result<EncodeStats> EncodeDelta(const OldLayer& old, const std::filesystem::path& new_tar,
                                const std::filesystem::path& out, const EncodeOptions& options) {
  auto map = MappedFile::Open(new_tar);
  if (!map) {
    return Fail(map.error());
  }
  const std::string_view tar = map->view();
  const TarScan scan = ScanTar(tar);
  const Matcher matcher(old);
  const unsigned jobs = options.jobs != 0 ? options.jobs : DefaultEncodeJobs();
  const std::filesystem::path dir = out.has_parent_path() ? out.parent_path() : ".";

  StreamSpools streams;
  FERRY_TRY_STATUS(streams.Create(dir, options.xz_preset), "encoding a delta");
  std::vector<const TarRegion*> files;
  for (const TarRegion& r : scan.regions) {
    if (r.is_content) {
      files.push_back(&r);
    }
  }

  EncodeStats stats;
  stats.new_size = tar.size();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  std::unordered_map<std::string, std::uint64_t> old_index;
  std::string cmd;
  std::uint32_t version = format::kVersion;
  auto ref_old = [&](const Matcher::Match& m) {
    auto [it, added] = old_index.try_emplace(*m.path, old_index.size());
    if (added) {
      cmd.push_back(static_cast<char>(format::kOldPath));
      format::PutVarint(cmd, m.file->size);
      format::PutVarint(cmd, m.path->size());
      cmd += *m.path;
    }
    return it->second;
  };
  {
    FilePipeline pipeline(old, matcher, tar, files, options);
    pipeline.Start(jobs);
    std::size_t k = 0;
    for (const TarRegion& r : scan.regions) {
      const std::string_view bytes = tar.substr(r.offset, r.size);
      EVP_DigestUpdate(sha.get(), bytes.data(), bytes.size());
      cmd.clear();
      if (!r.is_content) {
        cmd.push_back(static_cast<char>(format::kLiteral));
        format::PutVarint(cmd, r.size);
        streams.Put(format::kCommands, cmd);
        streams.Put(format::kMeta, bytes);
        map->ReleaseBelow(r.offset + r.size);
        continue;
      }
      auto chosen = pipeline.Take(k++);
      if (!chosen) {
        return Fail(chosen.error().WithContext("file " + r.path));
      }
      const Choice& c = *chosen;
      ++stats.files;
      stats.renamed += c.match.renamed ? 1 : 0;
      if (c.gzip) {
        ++stats.gzip;
        const GzipPlan& g = *c.gzip;
        // The old path record, when new, must come before the record that uses it.
        std::uint64_t old_plus_one = g.with_old ? ref_old(c.match) + 1 : 0;
        cmd.push_back(static_cast<char>(g.block_ends.empty() ? std::uint8_t{format::kGzip}
                                                             : format::kGzipBlocks));
        format::PutVarint(cmd, old_plus_one);
        format::PutVarint(cmd, r.size);
        format::PutVarint(cmd, g.header_len);
        format::PutVarint(cmd, static_cast<std::uint64_t>(g.level));
        format::PutVarint(cmd, static_cast<std::uint64_t>(g.mem_level));
        format::PutVarint(cmd, g.content.size());
        if (!g.block_ends.empty()) {
          version = format::kVersionGzipBlocks;
          format::PutVarint(cmd, g.block_ends.size());
          std::uint64_t at = 0;
          for (std::uint64_t end : g.block_ends) {
            format::PutVarint(cmd, end - at);
            at = end;
          }
        }
        cmd.push_back(static_cast<char>(OpOf(g.inner.kind)));
        EmitBody(g.inner, g.content, cmd, streams);
        streams.Put(format::kCommands, cmd);
        streams.Put(format::kMeta, bytes.substr(0, g.header_len));
        map->ReleaseBelow(r.offset + r.size);
        continue;
      }
      switch (c.plain.kind) {
        case Kind::kFull:
          ++stats.full;
          break;
        case Kind::kCopy:
          ++stats.unchanged;
          break;
        case Kind::kZstd:
          ++stats.zstd_patch;
          break;
        case Kind::kSa:
          ++stats.sa_patch;
          break;
      }
      std::uint64_t index = c.plain.kind != Kind::kFull ? ref_old(c.match) : 0;
      cmd.push_back(static_cast<char>(OpOf(c.plain.kind)));
      if (c.plain.kind != Kind::kFull) {
        format::PutVarint(cmd, index);
      }
      format::PutVarint(cmd, r.size);
      if (c.plain.kind != Kind::kCopy) {
        EmitBody(c.plain, bytes, cmd, streams);
      }
      streams.Put(format::kCommands, cmd);
      map->ReleaseBelow(r.offset + r.size);
    }
  }
  cmd.assign(1, static_cast<char>(format::kEnd));
  streams.Put(format::kCommands, cmd);
  auto diff = streams.Finish();
  if (!diff) {
    return Fail(diff.error().WithContext("encoding a delta"));
  }

  FullHeader header;
  header.version = version;
  header.info.new_size = tar.size();
  unsigned int sha_len = 0;
  EVP_DigestFinal_ex(sha.get(), header.info.new_sha256.data(), &sha_len);
  header.info.old_sha256 = old.tar_sha256;
  auto compressed = CompressStreams(streams, std::move(*diff), dir, options.xz_preset,
                                    std::min(jobs, kMaxXzJobs));
  if (!compressed) {
    return Fail(compressed.error());
  }
  stats.delta_size = format::kHeaderSize;
  for (std::size_t s = 0; s < format::kStreamCount; ++s) {
    header.streams[s] = {(*compressed)[s].size(), streams.raw_size(s)};
    stats.stream_sizes[s] = (*compressed)[s].size();
    stats.delta_size += (*compressed)[s].size();
  }
  const std::string header_bytes = EncodeHeader(header);
  auto write = [&](const fs::ChunkWriter& writer) -> Status {
    FERRY_TRY_STATUS(writer(header_bytes), "writing the header");
    std::vector<std::uint8_t> buf(1u << 20);
    for (const Spool& spool : *compressed) {
      for (std::uint64_t off = 0; off < spool.size();) {
        std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), spool.size() - off));
        FERRY_TRY_STATUS(spool.ReadAt(off, std::span(buf.data(), n)), "copying a stream");
        FERRY_TRY_STATUS(writer(std::string_view(reinterpret_cast<const char*>(buf.data()), n)),
                         "writing a stream");
        off += n;
      }
    }
    return Ok();
  };
  FERRY_TRY_STATUS(fs::WriteFileAtomicFrom(out, write), "writing delta " + out.string());
  return stats;
}

}  // namespace ferry::delta
