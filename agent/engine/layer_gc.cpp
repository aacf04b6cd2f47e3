#include "layer_gc.hpp"

#include <unistd.h>

#include <cerrno>

#include "ferry/layers/extract.hpp"

namespace ferry::engine {

Status RemoveUnreferencedLayers(store::StateStore& store, const Layout& layout) {
  auto all = store.ListLayers();
  if (!all) {
    return Fail(all.error());
  }
  for (const auto& layer : *all) {
    if (layer.references > 0) {
      continue;
    }
    if (auto st = layers::RemoveTree(layout.layer(layer.diff_id)); !st) {
      return st;
    }
    if (::unlink(layout.layer_whiteouts(layer.diff_id).c_str()) != 0 && errno != ENOENT) {
      return Fail(ErrnoError("unlink " + layout.layer_whiteouts(layer.diff_id).string()));
    }
    if (auto st = store.RemoveLayer(layer.diff_id); !st) {
      return st;
    }
  }
  return Ok();
}

}  // namespace ferry::engine
