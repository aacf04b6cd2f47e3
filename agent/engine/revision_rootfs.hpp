// A revision's root filesystem, <revision>/rootfs, is one of two kinds; only this file knows
// which, the rest of the engine and the runtime see the same path:
//
// - An overlay mount with the revision's layers as lower dirs, and an upper and a work dir in
//   <revision>/overlay/: the runtime's mount points land there, and a writable root's writes (a
//   read-only root is made read-only by the runtime, as for a hardlink farm). It costs neither the
//   layers' bytes nor their inodes. A mount does not survive a reboot, nor a ferryd that comes back
//   in a new mount namespace, so <revision>/overlay/layers records the layers (written before the
//   revision is renamed into place) and MountRevisionRootfs makes the mount again before a
//   container starts.
// - A hardlink farm (rootfs.hpp), which works everywhere. It is used when the mode says so, when
//   the kernel refuses the overlay (auto mode), and for revisions overlay cannot represent as they
//   are unpacked (see BuildRevisionRootfs).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "rootfs.hpp"

namespace ferry::engine {

enum class RootfsKind { kHardlink, kOverlay };

// Makes <dir>/rootfs (which must not exist) for `layers`, bottom first, all in one layers
// directory, following `mode`. In auto mode, a failed overlay mount is remembered for the rest of
// the process (logged once, with why) and the hardlink farm is built instead; in overlay mode it
// is an error. Either way revisions that overlay cannot serve as they are get the hardlink farm:
// layers with whiteouts (see the .cpp), or too many layers for the mount options. Leaves the
// overlay unmounted and everything synced.
Result<RootfsKind> BuildRevisionRootfs(const std::vector<RootfsLayer>& layers,
                                       const std::filesystem::path& dir, bool writable,
                                       RootfsMode mode);

// What kind <dir>/rootfs is.
RootfsKind RevisionRootfsKind(const std::filesystem::path& dir);

// False when <dir>/rootfs is an overlay some of whose layers are gone from `layers_dir` (a
// revision whose staging was cut short after its rename, before its layers were recorded as
// used, can lose them to garbage collection): it must be staged again. True for a hardlink farm,
// which needs no layer.
bool RevisionRootfsHasItsLayers(const std::filesystem::path& layers_dir,
                                const std::filesystem::path& dir);

// Mounts the overlay of revision `dir` from the layers under `layers_dir` unless it is mounted
// already; nothing to do for a hardlink farm.
Status MountRevisionRootfs(const std::filesystem::path& layers_dir,
                           const std::filesystem::path& dir);

// Unmounts <dir>/rootfs if something is mounted there (lazily when it is busy: the revision is
// going away and no container of it runs). Never touches the layers.
Status UnmountRevisionRootfs(const std::filesystem::path& dir);

// Removes a revision folder (or a .partial staging of one), unmounting its root filesystem first.
// Refuses to remove anything while a mount remains.
Status RemoveRevisionDir(const std::filesystem::path& dir);

// Forgets an earlier failed overlay mount, for tests.
void ResetOverlayProbeForTesting();

}  // namespace ferry::engine
