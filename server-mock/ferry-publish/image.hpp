// Importing an application image for a release: a root filesystem directory, an OCI image layout
// (index.json + blobs/, as umoci and skopeo write it; "DIR:TAG" picks a tagged manifest), or a
// `docker save` tarball (manifest.json + config + layer tars). Every layer comes out as an
// uncompressed tar file with its diff_id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::publish {

struct ImportedLayer {
  std::filesystem::path tar;  // uncompressed tar in the work directory
  std::string diff_id;        // "sha256:<hex>" of `tar`
  std::uint64_t size = 0;
};

struct ImportedImage {
  std::vector<ImportedLayer> layers;  // bottom first
  nlohmann::json config;              // the image config's "config" object (may be null)
  std::string architecture;           // empty when the image does not say
};

// Numeric owner given to every entry of a root filesystem layer, instead of the files' own (for
// trees unpacked without root rights).
struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

// Imports `source` into `work_dir`; `rootfs_owner` applies to a root filesystem directory only.
// Fails with kNotFound when the source does not exist, and with kInvalidArgument naming the problem
// when it is none of the three kinds or is malformed (bad digests, a blob whose bytes do not match
// its digest, a diff_id the image config contradicts).
Result<ImportedImage> ImportImage(const std::string& source, const std::filesystem::path& work_dir,
                                  std::optional<Owner> rootfs_owner = std::nullopt);

// What a layer tar unpacks to, counted as ferryd's extractor counts it, for the manifest to
// declare (a device refuses a layer past these figures while staging it).
struct LayerFigures {
  std::uint64_t entries = 0;        // tar entries, whiteouts included
  std::uint64_t unpacked_size = 0;  // sum of regular files' sizes (not hardlinks), sparse at full
};

// Reads the tar at `path` to its end. Fails with kInvalidArgument when it is not a readable tar.
Result<LayerFigures> CountLayerTar(const std::filesystem::path& path);

// Writes the tree below `root` as one tar layer at `out`: entries sorted by name, each directory
// before its contents, with the files' own modes, uids, gids and mtimes, no uid/gid names and no
// atime/ctime, in POSIX pax format, so the same tree always gives the same bytes. Hardlinked
// files become tar hardlinks; sockets are skipped. With `owner`, every entry gets that uid:gid.
Status WriteTreeTar(const std::filesystem::path& root, const std::filesystem::path& out,
                    std::optional<Owner> owner = std::nullopt);

}  // namespace ferry::publish
