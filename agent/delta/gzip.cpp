#include "gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "ferry/delta/delta.hpp"
#include "gzip_blocks.hpp"

namespace ferry::delta {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

// Inflates the raw deflate data at the start of `body`; returns the content and the number of
// compressed bytes it took.
std::optional<std::pair<std::string, std::size_t>> InflateRaw(std::string_view body,
                                                              std::uint64_t limit) {
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) {
    return std::nullopt;
  }
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(body.size(), UINT32_MAX));
  int ret = Z_OK;
  std::vector<char> buf(kChunk);
  while (ret == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    ret = inflate(&zs, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - zs.avail_out);
    if (out.size() > limit || (ret == Z_BUF_ERROR)) {
      ret = Z_DATA_ERROR;
    }
  }
  std::size_t used = zs.total_in;
  inflateEnd(&zs);
  if (ret != Z_STREAM_END) {
    return std::nullopt;
  }
  return std::make_pair(std::move(out), used);
}

}  // namespace

std::size_t GzipHeaderLength(std::string_view file) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(file[i]); };
  if (file.size() < 18 || byte(0) != 0x1f || byte(1) != 0x8b || byte(2) != 8) {
    return 0;
  }
  unsigned flags = byte(3);
  if ((flags & 0xe0) != 0) {
    return 0;
  }
  std::size_t pos = 10;
  if ((flags & 4) != 0) {  // FEXTRA
    if (pos + 2 > file.size()) {
      return 0;
    }
    pos += 2 + (byte(pos) | (std::size_t{byte(pos + 1)} << 8));
  }
  for (unsigned flag : {8u, 16u}) {  // FNAME, FCOMMENT
    if ((flags & flag) != 0) {
      std::size_t end = pos < file.size() ? file.find('\0', pos) : std::string_view::npos;
      if (end == std::string_view::npos) {
        return 0;
      }
      pos = end + 1;
    }
  }
  if ((flags & 2) != 0) {  // FHCRC
    pos += 2;
  }
  return pos <= kMaxGzipHeader && pos < file.size() ? pos : 0;
}

std::optional<std::string> Gunzip(std::string_view file, std::uint64_t limit) {
  std::size_t header = GzipHeaderLength(file);
  if (header == 0) {
    return std::nullopt;
  }
  auto raw = InflateRaw(file.substr(header), limit);
  if (!raw) {
    return std::nullopt;
  }
  return std::move(raw->first);
}

std::optional<GzipMember> ReproducibleGzip(std::string_view file) {
  std::size_t header = GzipHeaderLength(file);
  if (header == 0) {
    return std::nullopt;
  }
  auto raw = InflateRaw(file.substr(header), kMaxGzipContent);
  if (!raw || header + raw->second + 8 != file.size()) {
    return std::nullopt;
  }
  const std::string& content = raw->first;
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(content.data()),
                                      content.size());
  auto trailer = GzipTrailer(bytes);
  if (std::memcmp(trailer.data(), file.data() + file.size() - 8, 8) != 0) {
    return std::nullopt;
  }
  std::string_view body = file.substr(header, raw->second);
  for (auto [level, mem_level] : {std::pair{9, 8}, std::pair{9, 9}, std::pair{6, 8}}) {
    std::size_t pos = 0;
    bool same = true;
    Status st = DeflateRaw(bytes, level, mem_level, [&](std::span<const std::uint8_t> out) {
      if (same && (pos + out.size() > body.size() ||
                   std::memcmp(body.data() + pos, out.data(), out.size()) != 0)) {
        same = false;
      }
      pos += out.size();
      return Ok();
    });
    if (st && same && pos == body.size()) {
      return GzipMember{header, level, mem_level, std::move(raw->first)};
    }
  }
  return std::nullopt;
}

Status DeflateRaw(std::span<const std::uint8_t> data, int level, int mem_level,
                  const std::function<Status(std::span<const std::uint8_t>)>& emit) {
  return DeflateRawBlocks(data, level, mem_level, {}, emit);
}

std::array<std::uint8_t, 8> GzipTrailer(std::span<const std::uint8_t> data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::size_t pos = 0; pos < data.size(); pos += kChunk) {
    std::size_t n = std::min(kChunk, data.size() - pos);
    crc = crc32(crc, data.data() + pos, static_cast<uInt>(n));
  }
  auto size = static_cast<std::uint32_t>(data.size());
  std::array<std::uint8_t, 8> out{};
  for (int i = 0; i < 4; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((crc >> (8 * i)) & 0xff);
    out[static_cast<std::size_t>(4 + i)] = static_cast<std::uint8_t>((size >> (8 * i)) & 0xff);
  }
  return out;
}

}  // namespace ferry::delta
