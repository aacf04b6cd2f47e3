// Where ferryd keeps things under its state directory (docs/architecture.md, Device storage), and
// where a directory blob store keeps a blob. No other file spells a path under the state
// directory. Every path is derived from validated names and digests, never from raw input.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "ferry/core/digest.hpp"

namespace ferry::layout {

// <blobs_root>/sha256/: where a directory blob store keeps its blobs, each named by the hex of its
// digest. ferryd's own store (Layout::blobs()), an unpacked offline bundle's blobs/ and a
// repository's blobs/ are laid out alike.
std::filesystem::path Sha256Blobs(const std::filesystem::path& blobs_root);
// <blobs_root>/sha256/<hex> for "sha256:<hex>".
std::filesystem::path BlobPath(const std::filesystem::path& blobs_root, const Digest& digest);

class Layout {
 public:
  explicit Layout(std::filesystem::path state_dir) : root_(std::move(state_dir)) {}

  const std::filesystem::path& root() const { return root_; }
  // Held with an exclusive flock by the one ferryd that works in this state directory.
  std::filesystem::path lock_file() const { return root_ / "ferryd.lock"; }
  std::filesystem::path database() const { return root_ / "state.db"; }
  std::filesystem::path blobs() const { return root_ / "blobs"; }
  // blobs/sha256/<hex>: downloaded blobs, complete and verified.
  std::filesystem::path sha256_blobs() const { return Sha256Blobs(blobs()); }
  std::filesystem::path blob(const Digest& digest) const { return BlobPath(blobs(), digest); }
  // blobs/partial/<hex>: downloads in progress, resumed with HTTP Range.
  std::filesystem::path partial_blobs() const { return blobs() / "partial"; }
  std::filesystem::path partial_blob(const Digest& digest) const {
    return partial_blobs() / digest.hex();
  }
  // incoming/: an offline bundle being unpacked and verified; incoming/bundle/ the one in hand.
  std::filesystem::path incoming() const { return root_ / "incoming"; }
  std::filesystem::path incoming_bundle() const { return incoming() / "bundle"; }
  std::filesystem::path layers() const { return root_ / "layers"; }
  // layers/<hex>/ for "sha256:<hex>". The string forms take a diff_id Ferry has checked already (a
  // parsed manifest's or the state store's); anything else is a bug in Ferry and aborts.
  std::filesystem::path layer(const Digest& diff_id) const { return layers() / diff_id.hex(); }
  std::filesystem::path layer(std::string_view diff_id) const;
  std::filesystem::path layer_whiteouts(const Digest& diff_id) const;
  std::filesystem::path layer_whiteouts(std::string_view diff_id) const;
  std::filesystem::path app(std::string_view app) const { return root_ / "apps" / app; }
  std::filesystem::path revisions(std::string_view app) const {
    return this->app(app) / "revisions";
  }
  std::filesystem::path revision(std::string_view app, std::string_view id) const {
    return revisions(app) / id;
  }
  std::filesystem::path current_link(std::string_view app) const {
    return this->app(app) / "current";
  }
  std::filesystem::path previous_link(std::string_view app) const {
    return this->app(app) / "previous";
  }
  std::filesystem::path volumes(std::string_view app) const { return root_ / "volumes" / app; }
  std::filesystem::path logs() const { return root_ / "logs"; }
  std::filesystem::path app_logs(std::string_view app) const { return logs() / app; }
  // Where a layer or revision folder is moved, durably, before it is removed: the rename is the
  // deletion's intent, and start-up recovery finishes what a crash interrupted. A folder is
  // complete under its own name or not there at all.
  static std::filesystem::path BeingRemoved(const std::filesystem::path& dir) {
    return dir.string() + std::string(kBeingRemovedSuffix);
  }
  static constexpr std::string_view kBeingRemovedSuffix = ".deleting";

 private:
  std::filesystem::path root_;
};

}  // namespace ferry::layout
