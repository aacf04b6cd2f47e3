// File helpers of ferry-publish: hashing, zstd (de)compression of layer tars and the
// content-addressed blob store of a repository (blobs/sha256/<hex>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/manifest/manifest.hpp"

namespace ferry::publish {

class PendingBlobs;

// Lower-case hex sha256 of a file's bytes, read in chunks.
Result<std::string> Sha256OfFile(const std::filesystem::path& path);

// Compresses `in` to `out` with zstd level 19, long-distance matching and a window of
// 2^layers::kLayerZstdWindowLog (the most ferryd's decoder accepts), single-threaded so the same
// input always gives the same bytes.
Status CompressZstd(const std::filesystem::path& in, const std::filesystem::path& out);

// Decompresses a zstd file `in` to `out` (windows up to 2^27: older releases used them).
Status DecompressZstd(const std::filesystem::path& in, const std::filesystem::path& out);

// Path of a blob in a repository: DIR/blobs/sha256/<hex> for digest "sha256:<hex>". The digest
// must be valid (manifest::IsSha256Digest); the caller checks.
std::filesystem::path BlobPath(const std::filesystem::path& repo, const std::string& digest);

// Moves `file` into the repository's blob store under its sha256 (durably; a blob already there
// with the right content is kept, a damaged one replaced; `file` is removed) and returns its
// digest and size. The digest is recorded in `pending` before the store is touched. Safe while
// other releases store blobs: each writes its own temp file and renames it into place.
Result<manifest::Blob> StoreBlob(const std::filesystem::path& repo,
                                 const std::filesystem::path& file, PendingBlobs& pending);

// A fresh private work directory below the system temp dir, removed by the destructor.
class WorkDir {
 public:
  WorkDir();
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  bool ok() const { return !path_.empty(); }

 private:
  std::filesystem::path path_;
};

}  // namespace ferry::publish
