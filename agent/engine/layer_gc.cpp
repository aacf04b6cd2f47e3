#include "layer_gc.hpp"

#include <unistd.h>

#include <cerrno>

#include "ferry/core/crashpoint.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/layers/extract.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

FERRY_DEFINE_CRASHPOINT(kLayerGcBeforeRename, "engine.gc.layer.before-rename");
FERRY_DEFINE_CRASHPOINT(kLayerGcAfterRename, "engine.gc.layer.after-rename");
FERRY_DEFINE_CRASHPOINT(kLayerGcAfterForget, "engine.gc.layer.after-forget");
FERRY_DEFINE_CRASHPOINT(kLayerGcAfterRemove, "engine.gc.layer.after-remove");

bool Exists(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(stdfs::symlink_status(p, ec));
}

}  // namespace

Status RemoveUnreferencedLayers(store::StateStore& store, const Layout& layout) {
  auto all = store.ListLayers();
  if (!all) {
    return Fail(all.error());
  }
  for (const auto& layer : *all) {
    if (layer.references > 0) {
      continue;
    }
    // The layer leaves its name in one durable rename, before anything of it is removed: a
    // crash can leave a record without a folder (the next release that needs it unpacks it
    // again), never a record of a half-removed folder that a release would be started on.
    const stdfs::path dir = layout.layer(layer.diff_id);
    const stdfs::path doomed = Layout::BeingRemoved(dir);
    Crashpoint(kLayerGcBeforeRename);
    if (Exists(dir)) {
      if (auto st = layers::RemoveTree(doomed); !st) {
        return st;
      }
      if (auto st = fs::RenameDurable(dir, doomed); !st) {
        return st;
      }
    }
    Crashpoint(kLayerGcAfterRename);
    if (::unlink(layout.layer_whiteouts(layer.diff_id).c_str()) != 0 && errno != ENOENT) {
      return Fail(ErrnoError("unlink " + layout.layer_whiteouts(layer.diff_id).string()));
    }
    if (auto st = store.RemoveLayer(layer.diff_id); !st) {
      return st;
    }
    Crashpoint(kLayerGcAfterForget);
    if (auto st = layers::RemoveTree(doomed); !st) {
      return st;
    }
    Crashpoint(kLayerGcAfterRemove);
  }
  return Ok();
}

Status FinishRemovals(const stdfs::path& dir) {
  std::error_code ec;
  for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.ends_with(Layout::kBeingRemovedSuffix) || name.ends_with(Layout::kBeingStagedSuffix)) {
      if (auto st = layers::RemoveTree(it->path()); !st) {
        return st;
      }
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Fail(SystemError("listing " + dir.string(), ec));
  }
  return Ok();
}

}  // namespace ferry::engine
