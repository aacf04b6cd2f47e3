// Builds real releases for engine tests: layer tars made by GNU tar from files the test lists,
// zstd-compressed into a blob directory laid out as a repository (blobs/sha256/<hex>), and a
// manifest that pins them.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ferry/manifest/manifest.hpp"

namespace ferry::testing {

struct LayerFiles {
  std::map<std::string, std::string> files;     // path → content ("dir/" for a directory)
  std::map<std::string, std::string> symlinks;  // path → target
};

struct BuiltLayer {
  manifest::Layer layer;
  std::filesystem::path tar;
};

class ReleaseBuilder {
 public:
  explicit ReleaseBuilder(std::filesystem::path work) : work_(std::move(work)) {}

  std::filesystem::path blob_dir() const { return work_ / "repo"; }

  // Makes a layer and stores its blob; the same files give the same layer.
  BuiltLayer Layer(const LayerFiles& files);

  // A manifest for `app` at `version` with `layers`; `health` is the health check (null: none).
  manifest::Manifest Release(const std::string& app, const std::string& version,
                             const std::vector<BuiltLayer>& layers,
                             nlohmann::json health = nullptr);

  // A layer of exactly these tar bytes (any header, e.g. from layers' TarBuilder). `declared_size`
  // is the tar size the manifest signs (default: the real size).
  BuiltLayer RawLayer(const std::string& tar_bytes, std::uint64_t declared_size = 0);

  // Writes bytes as a blob; returns its Blob record.
  manifest::Blob StoreBlob(const std::filesystem::path& file);

 private:
  std::filesystem::path work_;
  int counter_ = 0;
};

}  // namespace ferry::testing
