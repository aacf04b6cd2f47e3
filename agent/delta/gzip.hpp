// Gzip members rebuilt bit for bit: many layers hold files compressed with gzip -9 (changelogs,
// man pages) whose content barely changes between versions while their compressed bytes change
// completely. When zlib reproduces a member exactly, the delta carries a patch of the
// decompressed content and the parameters to compress it again.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::delta {

inline constexpr std::size_t kMaxGzipHeader = 64 * 1024;
inline constexpr std::uint64_t kMaxGzipContent = 8u << 20;

// A gzip member that zlib reproduces: header bytes + raw deflate of `content` at
// (level, mem_level) + CRC-32 and size trailer gives back the original file exactly.
struct GzipMember {
  std::size_t header_len = 0;
  int level = 9;
  int mem_level = 8;
  std::string content;
};

// Length of the gzip header (with its optional fields) at the start of `file`, or 0 when it is
// not one or the header is longer than kMaxGzipHeader.
std::size_t GzipHeaderLength(std::string_view file);

// Recognizes a single-member gzip file that zlib reproduces, with content of at most
// kMaxGzipContent bytes; nullopt otherwise.
std::optional<GzipMember> ReproducibleGzip(std::string_view file);

// Decompresses a gzip file in memory (encoder side; any member, not necessarily reproducible).
std::optional<std::string> Gunzip(std::string_view file, std::uint64_t limit);

// Raw deflate of `data` fed in 64 KiB chunks, output passed to `emit` as it comes; then nothing
// else (the caller writes the trailer). The same routine runs in the encoder's check and the
// decoder, so both produce the same bytes.
Status DeflateRaw(std::span<const std::uint8_t> data, int level, int mem_level,
                  const std::function<Status(std::span<const std::uint8_t>)>& emit);

// The 8-byte gzip trailer for `data`: CRC-32 and size mod 2^32, little-endian.
std::array<std::uint8_t, 8> GzipTrailer(std::span<const std::uint8_t> data);

}  // namespace ferry::delta
