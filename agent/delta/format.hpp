// Constants and small codecs of the delta format (docs/delta-format.md), shared by the encoder and
// the decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ferry::delta::format {

inline constexpr char kMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'D', 'L', 'T'};
inline constexpr std::uint32_t kVersion = 1;
// Version 2 adds the GZIP_BLOCKS record; an encoder writes it only for a delta that uses one, so
// that devices with a version 1 decoder take every other delta.
inline constexpr std::uint32_t kVersionGzipBlocks = 2;
inline constexpr std::uint32_t kMaxVersion = kVersionGzipBlocks;
inline constexpr std::size_t kStreamCount = 4;
inline constexpr std::size_t kHeaderBodySize = 88 + kStreamCount * 16;  // before the checksum
inline constexpr std::size_t kHeaderSize = kHeaderBodySize + 32;

// The four solid xz streams, each read front to back exactly once.
enum Stream : std::size_t {
  kCommands = 0,  // op records (varints), old path table, suffix-array control triples
  kMeta = 1,      // tar headers, padding and other bytes outside file contents
  kDiff = 2,      // suffix-array patch difference bytes (new - old, bytewise)
  kData = 3,      // full file contents, suffix-array extra bytes, zstd patch frames
};

// LZMA2 dictionary caps per stream; the decoder's memory limit for each is cap + 1 MiB.
inline constexpr std::uint32_t kDictCap[kStreamCount] = {2u << 20, 4u << 20, 8u << 20, 8u << 20};
inline constexpr std::uint64_t kDecoderMemSlack = 1u << 20;

enum Op : std::uint8_t {
  kEnd = 0,
  kLiteral = 1,    // len: bytes from kMeta
  kFull = 2,       // len: bytes from kData
  kCopy = 3,       // old, len: the old file as is
  kZstdPatch = 4,  // old, new_len, frame_len: a zstd frame in kData, old file as prefix
  kSaPatch = 5,    // old, new_len, n, n × (add, copy, zigzag seek)
  kOldPath = 6,    // size, path_len, path: defines the next old file index
  kGzip = 7,       // old + 1 (0: none), new_len, header_len, level, mem_level, content_len,
                   // content type (kFull, kZstdPatch or kSaPatch) and that type's fields
};
// As kGzip, with `count` and `count` block lengths before the content type (format version 2).
inline constexpr std::uint8_t kGzipBlocks = 8;

inline constexpr std::size_t kMaxPathLen = 4096;
inline constexpr std::uint64_t kMaxOldFiles = 1u << 20;
inline constexpr std::uint64_t kMaxZstdPatchSize = 8u << 20;  // old file and new file, each
inline constexpr int kZstdWindowLogMax = 24;  // covers an 8 MiB prefix + 8 MiB output
inline constexpr std::uint64_t kMaxSeek = 1ull << 62;

// LEB128 unsigned varint.
inline void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

inline void PutLe(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}
inline std::uint64_t GetLe(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

}  // namespace ferry::delta::format
