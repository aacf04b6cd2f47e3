#include "gzip_blocks.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

struct Inflated {
  std::string content;
  std::size_t used = 0;
  std::vector<std::uint64_t> block_ends;
};

// Inflates the raw deflate data at the start of `body`, noting where each block ends.
std::optional<Inflated> InflateWithBlocks(std::string_view body) {
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) {
    return std::nullopt;
  }
  Inflated out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(body.size(), UINT32_MAX));
  std::vector<char> buf(kChunk);
  int ret = Z_OK;
  while (ret == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    ret = inflate(&zs, Z_BLOCK);
    out.content.append(buf.data(), buf.size() - zs.avail_out);
    if (out.content.size() > kMaxGzipContent || ret == Z_BUF_ERROR ||
        out.block_ends.size() > kMaxGzipBlocks) {
      ret = Z_DATA_ERROR;
    }
    // Bit 7: stopped at the end of a block (or the header); bit 6: that was the last block.
    const bool block_end = (zs.data_type & 128) != 0 && (zs.data_type & 64) == 0;
    const std::uint64_t at = out.content.size();
    if (ret == Z_OK && block_end && at > 0 &&
        (out.block_ends.empty() || out.block_ends.back() != at)) {
      out.block_ends.push_back(at);
    }
  }
  out.used = zs.total_in;
  inflateEnd(&zs);
  if (ret != Z_STREAM_END) {
    return std::nullopt;
  }
  // An empty block or a block ending at the very end adds no boundary of its own.
  while (!out.block_ends.empty() && out.block_ends.back() >= out.content.size()) {
    out.block_ends.pop_back();
  }
  return out;
}

}  // namespace

std::optional<GzipBlockMember> ReproducibleGzipBlocks(std::string_view file) {
  const std::size_t header = GzipHeaderLength(file);
  if (header == 0) {
    return std::nullopt;
  }
  auto raw = InflateWithBlocks(file.substr(header));
  if (!raw || raw->block_ends.empty() || header + raw->used + 8 != file.size()) {
    return std::nullopt;
  }
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(raw->content.data()),
                                      raw->content.size());
  auto trailer = GzipTrailer(bytes);
  if (std::memcmp(trailer.data(), file.data() + file.size() - 8, 8) != 0) {
    return std::nullopt;
  }
  std::string_view body = file.substr(header, raw->used);
  for (auto [level, mem_level] : {std::pair{9, 8}, std::pair{9, 9}, std::pair{6, 8}}) {
    std::size_t pos = 0;
    bool same = true;
    Status st = DeflateRawBlocks(
        bytes, level, mem_level, raw->block_ends, [&](std::span<const std::uint8_t> out) -> Status {
          if (pos + out.size() > body.size() ||
              std::memcmp(body.data() + pos, out.data(), out.size()) != 0) {
            same = false;
            return Fail(DeltaErrc::kCorrupt, "differs");  // stop early
          }
          pos += out.size();
          return Ok();
        });
    if (st && same && pos == body.size()) {
      return GzipBlockMember{GzipMember{header, level, mem_level, std::move(raw->content)},
                             std::move(raw->block_ends)};
    }
  }
  return std::nullopt;
}

Status DeflateRawBlocks(std::span<const std::uint8_t> data, int level, int mem_level,
                        std::span<const std::uint64_t> block_ends,
                        const std::function<Status(std::span<const std::uint8_t>)>& emit) {
  for (std::size_t i = 0; i < block_ends.size(); ++i) {
    if (block_ends[i] == 0 || block_ends[i] >= data.size() ||
        (i > 0 && block_ends[i] <= block_ends[i - 1])) {
      return Fail(DeltaErrc::kCorrupt, "gzip block ends out of order or outside the content");
    }
  }
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, -15, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Fail(DeltaErrc::kCorrupt, "bad deflate parameters");
  }
  std::vector<std::uint8_t> buf(kChunk);
  std::size_t pos = 0;
  std::size_t next_end = 0;
  int ret = Z_OK;
  Status st = Ok();
  while (st && ret != Z_STREAM_END) {
    const std::uint64_t end = next_end < block_ends.size() ? block_ends[next_end] : data.size();
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, end - pos));
    zs.next_in = const_cast<Bytef*>(data.data() + pos);
    zs.avail_in = static_cast<uInt>(n);
    int flush = Z_NO_FLUSH;
    if (pos + n == data.size()) {
      flush = Z_FINISH;
    } else if (pos + n == end) {
      flush = Z_BLOCK;
      ++next_end;
    }
    do {
      zs.next_out = buf.data();
      zs.avail_out = static_cast<uInt>(buf.size());
      ret = deflate(&zs, flush);
      if (ret == Z_STREAM_ERROR) {
        st = Fail(DeltaErrc::kCorrupt, "deflate failed");
        break;
      }
      std::size_t produced = buf.size() - zs.avail_out;
      if (produced > 0) {
        st = emit({buf.data(), produced});
      }
    } while (st && zs.avail_out == 0);
    pos += n;
    if (flush == Z_FINISH && ret != Z_STREAM_END && st) {
      st = Fail(DeltaErrc::kCorrupt, "deflate did not finish");
    }
  }
  deflateEnd(&zs);
  return st;
}

}  // namespace ferry::delta
