#include "release_builder.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "ferry/core/digest.hpp"
#include "support/process.hpp"

namespace ferry::testing {

manifest::Blob ReleaseBuilder::StoreBlob(const std::filesystem::path& file) {
  auto digest = Sha256FileDigest(file);
  EXPECT_TRUE(digest);
  const auto dir = blob_dir() / "blobs" / "sha256";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(file, dir / digest->substr(7),
                             std::filesystem::copy_options::overwrite_existing);
  return manifest::Blob{*digest, std::filesystem::file_size(file)};
}

BuiltLayer ReleaseBuilder::Layer(const LayerFiles& files) {
  const auto root = work_ / ("layer" + std::to_string(counter_));
  const auto tar = work_ / ("layer" + std::to_string(counter_) + ".tar");
  ++counter_;
  std::filesystem::create_directories(root);
  for (const auto& [path, content] : files.files) {
    if (!path.empty() && path.back() == '/') {
      std::filesystem::create_directories(root / path);
      continue;
    }
    std::filesystem::create_directories((root / path).parent_path());
    std::ofstream(root / path, std::ios::binary) << content;
  }
  for (const auto& [path, target] : files.symlinks) {
    std::filesystem::create_directories((root / path).parent_path());
    std::filesystem::create_symlink(target, root / path);
  }
  auto r = Run({"tar", "--format=pax", "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                "--numeric-owner", "-C", root.string(), "-cf", tar.string(), "."});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto z = Run({"zstd", "-q", "-f", "-3", tar.string(), "-o", tar.string() + ".zst"});
  EXPECT_EQ(z.exit_code, 0) << z.err;
  BuiltLayer out;
  out.tar = tar;
  out.layer.diff_id = *Sha256FileDigest(tar);
  out.layer.size = std::filesystem::file_size(tar);
  out.layer.blob = StoreBlob(tar.string() + ".zst");
  return out;
}

BuiltLayer ReleaseBuilder::RawLayer(const std::string& tar_bytes, std::uint64_t declared_size) {
  const auto tar = work_ / ("raw" + std::to_string(counter_++) + ".tar");
  std::ofstream(tar, std::ios::binary) << tar_bytes;
  auto z = Run({"zstd", "-q", "-f", "-3", tar.string(), "-o", tar.string() + ".zst"});
  EXPECT_EQ(z.exit_code, 0) << z.err;
  BuiltLayer out;
  out.tar = tar;
  out.layer.diff_id = *Sha256FileDigest(tar);
  out.layer.size = declared_size != 0 ? declared_size : tar_bytes.size();
  out.layer.blob = StoreBlob(tar.string() + ".zst");
  return out;
}

manifest::Manifest ReleaseBuilder::Release(const std::string& app, const std::string& version,
                                           const std::vector<BuiltLayer>& layers,
                                           nlohmann::json health) {
  manifest::Manifest m;
  m.app = app;
  m.version = *manifest::ParseSemVer(version);
  m.config.entrypoint = {"/bin/app"};
  m.config.env = {"PATH=/bin"};
  if (!health.is_null()) {
    auto check = manifest::ParseHealthCheck(health);
    EXPECT_TRUE(check) << check.error().message();
    if (check) {
      m.config.health = std::move(*check);
    }
  }
  for (const auto& l : layers) {
    m.layers.push_back(l.layer);
  }
  return m;
}

}  // namespace ferry::testing
