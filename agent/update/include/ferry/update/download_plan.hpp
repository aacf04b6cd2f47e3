// Planning a release's downloads: for each layer the cheapest way to get it onto the device, and a
// check that the filesystem has room for it before a byte is fetched.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/manifest/manifest.hpp"

namespace ferry::config {
struct LimitsConfig;
}

namespace ferry::update {

enum class LayerSource {
  kPresent,   // the device already has the unpacked layer
  kDelta,     // download a delta against a layer the device has
  kFullBlob,  // download the zstd-compressed tar
};

struct LayerStep {
  std::string diff_id;
  LayerSource source = LayerSource::kFullBlob;
  manifest::Blob blob;              // what to download; empty digest for kPresent
  std::string from_diff_id;         // the base layer, for kDelta
  std::uint64_t unpacked_size = 0;  // size of the layer's tar, for kDelta and kFullBlob
};

struct DownloadPlan {
  std::vector<LayerStep> steps;      // one per distinct diff_id, in manifest order
  std::uint64_t download_bytes = 0;  // sum of the blobs to download
  std::uint64_t unpacked_bytes = 0;  // sum of the tar sizes of the layers to stage
};

// Picks, for each distinct layer of `manifest`, the first that applies: present (its diff_id is in
// `present`, the layers complete on the device), the smallest delta whose base is in `present`
// when it is smaller than the full blob, or the full blob. Pure: no I/O.
DownloadPlan PlanDownloads(const manifest::Manifest& manifest,
                           const std::set<std::string>& present);

// Fails with Errc::kNoSpace, saying how much is needed and how much is free, unless the filesystem
// holding `dir` has `bytes_needed` + limits.min_free_bytes bytes and `inodes_needed` +
// limits.min_free_inodes inodes available to unprivileged users. Filesystems that report no inode
// count (btrfs) pass the inode check. Errc::kIo when statvfs fails.
Status CheckFreeSpace(const std::filesystem::path& dir, std::uint64_t bytes_needed,
                      std::uint64_t inodes_needed, const config::LimitsConfig& limits);

}  // namespace ferry::update
