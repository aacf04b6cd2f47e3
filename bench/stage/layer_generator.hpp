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
  std::uint64_t entries = 0;     // tar entries, as ferry-publish declares them
  std::uint64_t file_bytes = 0;  // sum of the regular files' sizes, as ferry-publish declares it
};

// Generates about `target_bytes` of file data into `blob` (zstd level 3). Returns false and
// prints why on failure.
bool GenerateLayer(const std::filesystem::path& blob, std::uint64_t target_bytes,
                   GeneratedLayer* out);

// The layers that once made ferryd's staging memory grow, compressed with the zstd window
// ferry-publish writes (level 3, for speed: the window, not the level, sets the decoder's memory).
// A layer of `dirs` directories of `files_per_dir` one-byte files each.
bool GenerateManyFilesLayer(const std::filesystem::path& blob, std::uint64_t dirs,
                            std::uint64_t files_per_dir, GeneratedLayer* out);
// A layer of `dirs` directories of `whiteouts_per_dir` whiteouts (`.wh.f<n>`) each; the
// directories come only from the whiteouts' paths, so every entry is a whiteout.
bool GenerateManyWhiteoutsLayer(const std::filesystem::path& blob, std::uint64_t dirs,
                                std::uint64_t whiteouts_per_dir, GeneratedLayer* out);
// A layer of `dirs` directories holding `subdirs_per_dir` empty directories each.
bool GenerateManyDirectoriesLayer(const std::filesystem::path& blob, std::uint64_t dirs,
                                  std::uint64_t subdirs_per_dir, GeneratedLayer* out);
// A zero bomb: one file of `bytes` zeros, a blob of a few hundred KB.
bool GenerateZeroBomb(const std::filesystem::path& blob, std::uint64_t bytes, GeneratedLayer* out);

}  // namespace ferry::bench
