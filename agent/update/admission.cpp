#include "ferry/update/admission.hpp"

#include <system_error>

#include "ferry/core/fs.hpp"

namespace ferry::update {

namespace stdfs = std::filesystem;

std::set<std::string> PresentLayers(store::StateStore& store, const engine::Layout& layout) {
  std::set<std::string> present;
  if (auto list = store.ListLayers()) {
    for (const auto& l : *list) {
      std::error_code ec;
      if (l.state == store::LayerState::kComplete &&
          stdfs::exists(stdfs::symlink_status(layout.layer(l.diff_id), ec))) {
        present.insert(l.diff_id);
      }
    }
  }
  return present;
}

Status AdmitBundleFile(const stdfs::path& bundle, std::uint64_t size, const engine::Layout& layout,
                       const config::LimitsConfig& limits) {
  if (auto st = fs::MakeDirs(layout.root(), 0700); !st) {
    return Fail(st.error());
  }
  if (auto st = CheckFreeSpace(layout.root(), size, 0, limits); !st) {
    return Fail(st.error().WithContext("bundle " + bundle.filename().string() + " (not unpacked)"));
  }
  return Ok();
}

Status Admit(engine::Engine& engine, const engine::Layout& layout,
             const manifest::Manifest& manifest, std::string_view manifest_bytes,
             const DownloadPlan& plan, bool download, std::uint64_t bytes_on_disk,
             const config::LimitsConfig& limits, bool retry_bad) {
  const std::string what = manifest.app + " " + manifest.version.String();
  if (auto st = engine.Admissible(manifest, manifest_bytes, retry_bad); !st) {
    return Fail(st.error());
  }
  const std::uint64_t need = (download ? plan.download_bytes : 0) + plan.unpacked_bytes;
  if (auto st =
          CheckFreeSpace(layout.root(), need > bytes_on_disk ? need - bytes_on_disk : 0, 0, limits);
      !st) {
    return Fail(st.error().WithContext(what));
  }
  return Ok();
}

}  // namespace ferry::update
