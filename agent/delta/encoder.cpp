// The delta encoder: per file, the smallest of unchanged, full, zstd patch-from and suffix-array
// patch by measured size; then the four streams of the whole layer compressed solid with xz.
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "ferry/core/fs.hpp"
#include "ferry/delta/delta.hpp"
#include "format.hpp"
#include "gzip.hpp"
#include "header.hpp"
#include "input_file.hpp"
#include "matcher.hpp"
#include "sa_diff.hpp"
#include "tar_scan.hpp"
#include "xz.hpp"

namespace ferry::delta {
namespace {

enum class Kind { kFull, kCopy, kZstd, kSa };

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

// The smallest of full, zstd patch and suffix-array patch of `content` against `old_data`
// (null: no old bytes).
Payload BestPayload(const std::string_view* old_data, std::string_view content,
                    const EncodeOptions& options) {
  Payload best;
  best.cost = LzmaEstimate(content);
  if (old_data == nullptr || old_data->empty()) {
    return best;
  }
  if (options.zstd_patch && old_data->size() <= format::kMaxZstdPatchSize &&
      content.size() <= format::kMaxZstdPatchSize) {
    std::string frame = ZstdPatchFrame(*old_data, content, options.zstd_level);
    if (!frame.empty() && frame.size() < best.cost) {
      best.kind = Kind::kZstd;
      best.cost = frame.size();
      best.zstd_frame = std::move(frame);
    }
  }
  if (options.sa_patch && old_data->size() < (std::size_t{1} << 31)) {
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

Choice Choose(const Matcher& matcher, const std::string& path, std::string_view content,
              const EncodeOptions& options) {
  Choice choice;
  choice.match = matcher.Find(path, content);
  std::optional<std::string_view> old_data;
  if (choice.match.content != nullptr) {
    old_data = *choice.match.content;
    if (*old_data == content) {
      choice.plain.kind = Kind::kCopy;
      return choice;
    }
  }
  choice.plain = BestPayload(old_data ? &*old_data : nullptr, content, options);
  if (options.gzip) {
    if (auto member = ReproducibleGzip(content)) {
      std::optional<std::string> old_content;
      if (old_data) {
        old_content = Gunzip(*old_data, kMaxGzipContent);
      }
      std::string_view old_view = old_content ? std::string_view(*old_content) : std::string_view();
      GzipPlan plan{member->header_len,         member->level,           member->mem_level,
                    std::move(member->content), old_content.has_value(), {}};
      plan.inner = BestPayload(old_content ? &old_view : nullptr, plan.content, options);
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

// Appends the fields and payload of a full, zstd or suffix-array body (after its old index and
// length) to the streams.
void EmitBody(Payload& p, std::string_view content, std::string streams[]) {
  std::string& cmd = streams[format::kCommands];
  switch (p.kind) {
    case Kind::kFull:
    case Kind::kCopy:
      streams[format::kData] += content;
      break;
    case Kind::kZstd:
      format::PutVarint(cmd, p.zstd_frame.size());
      streams[format::kData] += p.zstd_frame;
      break;
    case Kind::kSa:
      format::PutVarint(cmd, p.sa.controls.size());
      cmd += ControlBytes(p.sa);
      streams[format::kDiff] += p.sa.diff;
      streams[format::kData] += p.sa.extra;
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

}  // namespace

Result<EncodeStats> EncodeDelta(const OldLayer& old, const std::filesystem::path& new_tar,
                                const std::filesystem::path& out, const EncodeOptions& options) {
  auto tar_r = ReadInputFile(new_tar);
  if (!tar_r) {
    return Fail(tar_r.error());
  }
  const std::string& tar = *tar_r;
  TarScan scan = ScanTar(tar);
  Matcher matcher(old);

  std::vector<std::size_t> content_regions;
  for (std::size_t i = 0; i < scan.regions.size(); ++i) {
    if (scan.regions[i].is_content) {
      content_regions.push_back(i);
    }
  }
  std::vector<Choice> choices(content_regions.size());
  {
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t k = next++; k < content_regions.size(); k = next++) {
        const TarRegion& r = scan.regions[content_regions[k]];
        choices[k] =
            Choose(matcher, r.path, std::string_view(tar).substr(r.offset, r.size), options);
      }
    };
    std::vector<std::jthread> workers;
    for (unsigned t = 1; t < std::max(1u, options.threads); ++t) {
      workers.emplace_back(work);
    }
    work();
  }

  EncodeStats stats;
  stats.new_size = tar.size();
  std::string streams[format::kStreamCount];
  std::string& cmd = streams[format::kCommands];
  std::unordered_map<std::string, std::uint64_t> old_index;
  auto ref_old = [&](const Matcher::Match& m) {
    auto [it, added] = old_index.try_emplace(*m.path, old_index.size());
    if (added) {
      cmd.push_back(static_cast<char>(format::kOldPath));
      format::PutVarint(cmd, m.content->size());
      format::PutVarint(cmd, m.path->size());
      cmd += *m.path;
    }
    return it->second;
  };
  std::size_t k = 0;
  for (const TarRegion& r : scan.regions) {
    std::string_view bytes = std::string_view(tar).substr(r.offset, r.size);
    if (!r.is_content) {
      cmd.push_back(static_cast<char>(format::kLiteral));
      format::PutVarint(cmd, r.size);
      streams[format::kMeta] += bytes;
      continue;
    }
    Choice& c = choices[k++];
    ++stats.files;
    stats.renamed += c.match.renamed ? 1 : 0;
    if (c.gzip) {
      ++stats.gzip;
      GzipPlan& g = *c.gzip;
      // The old path record, when new, must come before the record that uses it.
      std::uint64_t old_plus_one = g.with_old ? ref_old(c.match) + 1 : 0;
      cmd.push_back(static_cast<char>(format::kGzip));
      format::PutVarint(cmd, old_plus_one);
      format::PutVarint(cmd, r.size);
      format::PutVarint(cmd, g.header_len);
      format::PutVarint(cmd, static_cast<std::uint64_t>(g.level));
      format::PutVarint(cmd, static_cast<std::uint64_t>(g.mem_level));
      format::PutVarint(cmd, g.content.size());
      cmd.push_back(static_cast<char>(OpOf(g.inner.kind)));
      EmitBody(g.inner, g.content, streams);
      streams[format::kMeta] += bytes.substr(0, g.header_len);
      c = {};
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
      EmitBody(c.plain, bytes, streams);
    }
    c = {};
  }
  cmd.push_back(static_cast<char>(format::kEnd));

  FullHeader header;
  header.info.new_size = tar.size();
  header.info.new_sha256 = Sha256Of(tar.data(), tar.size());
  header.info.old_sha256 = old.tar_sha256;
  std::string compressed[format::kStreamCount];
  std::optional<Error> failure;
  {
    std::atomic<std::size_t> next{0};
    std::mutex mu;
    auto work = [&] {
      // Largest streams first, so two workers finish together.
      static constexpr std::size_t kOrder[] = {format::kData, format::kDiff, format::kMeta,
                                               format::kCommands};
      for (std::size_t j = next++; j < format::kStreamCount; j = next++) {
        std::size_t s = kOrder[j];
        auto r = XzCompress(streams[s], options.xz_preset, format::kDictCap[s]);
        if (!r) {
          std::lock_guard lock(mu);
          failure = r.error();
          continue;
        }
        compressed[s] = std::move(*r);
      }
    };
    std::vector<std::jthread> workers;
    for (unsigned t = 1; t < std::max(1u, options.threads); ++t) {
      workers.emplace_back(work);
    }
    work();
  }
  if (failure) {
    return Fail(*failure);
  }
  std::string file;
  for (std::size_t s = 0; s < format::kStreamCount; ++s) {
    header.streams[s] = {compressed[s].size(), streams[s].size()};
    stats.stream_sizes[s] = compressed[s].size();
  }
  file = EncodeHeader(header);
  for (const std::string& c : compressed) {
    file += c;
  }
  stats.delta_size = file.size();
  FERRY_TRY_STATUS(fs::WriteFileAtomic(out, file), "writing delta " + out.string());
  return stats;
}

}  // namespace ferry::delta
