#include "ferry/layout/layout.hpp"

#include "ferry/core/check.hpp"

namespace ferry::layout {
namespace {

Digest Checked(std::string_view diff_id) {
  auto digest = Digest::Parse(diff_id);
  FERRY_CHECK(digest.has_value());
  return *std::move(digest);
}

}  // namespace

std::filesystem::path Sha256Blobs(const std::filesystem::path& blobs_root) {
  return blobs_root / "sha256";
}

std::filesystem::path BlobPath(const std::filesystem::path& blobs_root, const Digest& digest) {
  return Sha256Blobs(blobs_root) / digest.hex();
}

std::filesystem::path Layout::layer(std::string_view diff_id) const {
  return layer(Checked(diff_id));
}

std::filesystem::path Layout::layer_whiteouts(const Digest& diff_id) const {
  return layers() / (std::string(diff_id.hex()) + ".whiteouts");
}

std::filesystem::path Layout::layer_whiteouts(std::string_view diff_id) const {
  return layer_whiteouts(Checked(diff_id));
}

}  // namespace ferry::layout
