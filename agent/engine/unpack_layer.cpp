#include "ferry/engine/unpack_layer.hpp"

#include <system_error>
#include <utility>

#include "ferry/core/fs.hpp"

namespace ferry::engine {

Result<layers::ExtractResult> UnpackLayerBlob(layers::ByteSource& blob,
                                              const std::filesystem::path& layers_dir,
                                              const manifest::Layer& layer,
                                              std::function<bool()> stop) {
  layers::ExtractPolicy policy = layers::ExtractPolicy::ForCurrentProcess();
  policy.whiteouts = layers::WhiteoutMode::kList;
  policy.max_tar_bytes = layer.size;
  policy.declared_entries = layer.entries;
  policy.declared_unpacked_size = layer.unpacked_size;
  policy.stop_requested = std::move(stop);
  layers::ZstdSource tar(blob);
  // zstd on its own thread: decoding and unpacking overlap (a few buffers of the tar in memory).
  layers::ReadAheadSource ahead(tar);
  return layers::StageLayer(ahead, layers_dir, layer.diff_id, policy);
}

Result<std::string> UnpackLayer(store::StateStore& store, const Layout& layout,
                                const manifest::Layer& layer, layers::ByteSource& blob,
                                const std::function<bool()>& stop) {
  auto known = store.GetLayer(layer.diff_id);
  if (!known) {
    return Fail(known.error());
  }
  std::error_code ec;
  const bool there =
      std::filesystem::exists(std::filesystem::symlink_status(layout.layer(layer.diff_id), ec));
  if (there && *known && (*known)->state == store::LayerState::kComplete) {
    return std::string();
  }
  if (auto st = fs::MakeDirs(layout.layers(), 0700); !st) {
    return Fail(st.error());
  }
  if (auto st = store.PutLayer(layer.diff_id, store::LayerState::kStaging, layer.size); !st) {
    return Fail(st.error());
  }
  if (there) {
    // Renamed into place after its digest matched, then interrupted before the database said so.
    if (auto st = store.PutLayer(layer.diff_id, store::LayerState::kComplete, layer.size); !st) {
      return Fail(st.error());
    }
    return std::string();
  }
  auto staged = UnpackLayerBlob(blob, layout.layers(), layer, stop);
  if (!staged) {
    // Nothing of it is in place: no record says otherwise (one a revision uses stays, as staging).
    (void)store.RemoveLayer(layer.diff_id);
    return Fail(staged.error());
  }
  if (auto st = store.PutLayer(layer.diff_id, store::LayerState::kComplete, layer.size); !st) {
    return Fail(st.error());
  }
  return StrippedNote(layer.diff_id, *staged);
}

std::string StrippedNote(const std::string& diff_id, const layers::ExtractResult& r) {
  std::string what;
  const auto files = [](std::uint64_t n) {
    return std::to_string(n) + (n == 1 ? " file" : " files");
  };
  if (r.set_id_stripped > 0) {
    what = "setuid/setgid bits of " + files(r.set_id_stripped);
  }
  if (r.capabilities_stripped > 0) {
    what += (what.empty() ? "" : " and ") + std::string("file capabilities of ") +
            files(r.capabilities_stripped);
  }
  return what.empty() ? what : "layer " + diff_id + ": stripped " + what;
}

}  // namespace ferry::engine
