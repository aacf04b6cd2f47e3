// Gzip members that zlib reproduces only when told where the original's deflate blocks end.
// GNU gzip ends a block early when its statistics say so (every 4096 symbols it compares the
// block's estimated compressed size with its input), which zlib does not do: on files of more
// than a few thousand symbols zlib alone gives other bytes. Ending zlib's blocks at the same
// content offsets (deflate with Z_BLOCK) gives back the original bit for bit, measured on every
// gzip file of the Debian bench pair (changelogs and man pages of 8 KB to 500 KB).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "gzip.hpp"

namespace ferry::delta {

// At most this many block ends in one member; each takes 8 bytes of the decoder's memory.
inline constexpr std::uint64_t kMaxGzipBlocks = 1u << 16;

struct GzipBlockMember {
  GzipMember member;
  // Content offsets where a deflate block ends, strictly increasing, each in (0, content size);
  // the last block ends at the end of the content.
  std::vector<std::uint64_t> block_ends;
};

// Recognizes a single-member gzip file, content at most kMaxGzipContent bytes, that zlib
// reproduces with its blocks ended at the original's block ends; nullopt otherwise.
std::optional<GzipBlockMember> ReproducibleGzipBlocks(std::string_view file);

// Raw deflate of `data` as DeflateRaw, except that a block ends at each of `block_ends`
// (strictly increasing, each in (0, data.size())); errors are DeltaErrc::kCorrupt.
Status DeflateRawBlocks(std::span<const std::uint8_t> data, int level, int mem_level,
                        std::span<const std::uint64_t> block_ends,
                        const std::function<Status(std::span<const std::uint8_t>)>& emit);

}  // namespace ferry::delta
