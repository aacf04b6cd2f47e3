// The delta encoder: per file, the smallest of unchanged, full, zstd patch-from and suffix-array
// patch by measured size; then the four streams of the whole layer compressed solid with xz.
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "agent/delta/format.hpp"
#include "agent/delta/header.hpp"
#include "agent/delta/matcher.hpp"
#include "agent/delta/sa_diff.hpp"
#include "agent/delta/tar_scan.hpp"
#include "agent/delta/xz.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

enum class Kind { kFull, kCopy, kZstd, kSa };

struct Choice {
  Kind kind = Kind::kFull;
  Matcher::Match match;
  std::string zstd_frame;
  SaPatch sa;
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

Choice Choose(const Matcher& matcher, const std::string& path, std::string_view content,
              const EncodeOptions& options) {
  Choice choice;
  choice.match = matcher.Find(path, content);
  if (choice.match.content == nullptr) {
    return choice;
  }
  std::string_view old_data = *choice.match.content;
  if (old_data == content) {
    choice.kind = Kind::kCopy;
    return choice;
  }
  std::uint64_t best = LzmaEstimate(content);
  if (options.zstd_patch && old_data.size() <= format::kMaxZstdPatchSize &&
      content.size() <= format::kMaxZstdPatchSize && !old_data.empty()) {
    std::string frame = ZstdPatchFrame(old_data, content, options.zstd_level);
    if (!frame.empty() && frame.size() < best) {
      best = frame.size();
      choice.kind = Kind::kZstd;
      choice.zstd_frame = std::move(frame);
    }
  }
  if (options.sa_patch && old_data.size() < (std::size_t{1} << 31) && !old_data.empty()) {
    SaPatch patch = SaDiff(old_data, content);
    std::uint64_t size =
        LzmaEstimate(ControlBytes(patch)) + LzmaEstimate(patch.diff) + LzmaEstimate(patch.extra);
    if (size < best) {
      choice.kind = Kind::kSa;
      choice.sa = std::move(patch);
      choice.zstd_frame.clear();
    }
  }
  if (choice.kind == Kind::kFull) {
    choice.match = {};
  }
  return choice;
}

Result<std::string> Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(DeltaErrc::kBadInput, "cannot open " + path.string());
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return Fail(DeltaErrc::kBadInput, "cannot read " + path.string());
  }
  return data;
}

}  // namespace

Result<EncodeStats> EncodeDelta(const OldLayer& old, const std::filesystem::path& new_tar,
                                const std::filesystem::path& out, const EncodeOptions& options) {
  auto tar_r = Slurp(new_tar);
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
    switch (c.kind) {
      case Kind::kFull:
        ++stats.full;
        cmd.push_back(static_cast<char>(format::kFull));
        format::PutVarint(cmd, r.size);
        streams[format::kData] += bytes;
        break;
      case Kind::kCopy: {
        ++stats.unchanged;
        std::uint64_t index = ref_old(c.match);
        cmd.push_back(static_cast<char>(format::kCopy));
        format::PutVarint(cmd, index);
        format::PutVarint(cmd, r.size);
        break;
      }
      case Kind::kZstd: {
        ++stats.zstd_patch;
        std::uint64_t index = ref_old(c.match);
        cmd.push_back(static_cast<char>(format::kZstdPatch));
        format::PutVarint(cmd, index);
        format::PutVarint(cmd, r.size);
        format::PutVarint(cmd, c.zstd_frame.size());
        streams[format::kData] += c.zstd_frame;
        break;
      }
      case Kind::kSa: {
        ++stats.sa_patch;
        std::uint64_t index = ref_old(c.match);
        cmd.push_back(static_cast<char>(format::kSaPatch));
        format::PutVarint(cmd, index);
        format::PutVarint(cmd, r.size);
        format::PutVarint(cmd, c.sa.controls.size());
        cmd += ControlBytes(c.sa);
        streams[format::kDiff] += c.sa.diff;
        streams[format::kData] += c.sa.extra;
        break;
      }
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
