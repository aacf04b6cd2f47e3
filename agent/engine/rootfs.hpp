// Assembling a revision's root filesystem from its unpacked layers, bottom to top, as a hardlink
// farm: directories are created, files are hard links into the layer store (so a revision costs
// inodes, not bytes), symlinks are copied, and each layer's whiteouts hide what lower layers
// put at those paths. A layer's entry replaces a lower one of the same name, and a non-directory
// (a symlink included) hides the whole lower subtree, as in overlayfs. Hard links share inodes
// with the layer store, so this serves only a read-only root filesystem; a writable root gets
// copies instead. Every operation resolves beneath the tree's root fd without following a symlink
// (ferry/layers/beneath.hpp) and acts on fds, so no layer reaches outside the tree.
#pragma once

#include <filesystem>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::engine {

struct RootfsLayer {
  std::filesystem::path dir;             // layers/<hex>/
  std::filesystem::path whiteouts_file;  // layers/<hex>.whiteouts (may be absent: none)
};

// Refuses a stack in which a layer puts a symlink where a lower layer, still visible there (no
// whiteout, opaque directory or other entry of a layer in between hides it), has a directory:
// such an image means to redirect the directory's contents elsewhere, which Ferry does not serve
// (the publisher flattens the image). Only the symlinks of upper layers are looked up in lower
// layers, beneath each layer's root fd, never through a symlink. Fails with kUnsupported, naming
// the layer and the entry. Call it before building either kind of root filesystem.
Status CheckLayerStack(const std::vector<RootfsLayer>& layers);

// Builds `target` (which must not exist) from `layers`, bottom first. `copy_files` copies file
// contents instead of linking them. Never follows a symlink inside a layer or the target. Syncs
// the new tree before returning. Errors name the path inside the tree.
Status AssembleRootfs(const std::vector<RootfsLayer>& layers, const std::filesystem::path& target,
                      bool copy_files);

}  // namespace ferry::engine
