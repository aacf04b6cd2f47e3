// Writes a synthetic image layer (a tar of mixed files, zstd-compressed) for benchmarks: text-like
// files that compress well, binary-like files that compress a little, a few large files, symlinks
// and hardlinks, all from a fixed seed so runs compare.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ferry::bench {

struct GeneratedLayer {
  std::string diff_id;  // sha256 of the uncompressed tar
  std::uint64_t tar_bytes = 0;
  std::uint64_t blob_bytes = 0;
  std::uint64_t files = 0;
};

// Generates about `target_bytes` of file data into `blob` (zstd level 3). Returns false and
// prints why on failure.
bool GenerateLayer(const std::filesystem::path& blob, std::uint64_t target_bytes,
                   GeneratedLayer* out);

}  // namespace ferry::bench
