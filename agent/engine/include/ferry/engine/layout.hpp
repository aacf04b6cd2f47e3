// Where ferryd keeps things under its state directory (docs/architecture.md, Device storage).
// Every path is derived from validated names and digests, never from raw input.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace ferry::engine {

class Layout {
 public:
  explicit Layout(std::filesystem::path state_dir) : root_(std::move(state_dir)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path database() const { return root_ / "state.db"; }
  std::filesystem::path blobs() const { return root_ / "blobs"; }
  std::filesystem::path partial_blobs() const { return root_ / "blobs" / "partial"; }
  // incoming/: an offline bundle being unpacked and verified; incoming/bundle/ the one in hand.
  std::filesystem::path incoming() const { return root_ / "incoming"; }
  std::filesystem::path incoming_bundle() const { return incoming() / "bundle"; }
  std::filesystem::path layers() const { return root_ / "layers"; }
  // layers/<hex>/ for "sha256:<hex>".
  std::filesystem::path layer(std::string_view diff_id) const;
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

// The revision id of a release: "<version>-<12 hex of the manifest digest>", with characters a
// container id may not hold replaced, so it is stable for the same signed manifest.
std::string RevisionId(std::string_view version, std::string_view manifest_digest);

// The runtime's container id for a revision of an app.
std::string ContainerId(std::string_view app, std::string_view revision);

}  // namespace ferry::engine
