#include "revision_rootfs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

#include "ferry/core/check.hpp"
#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/layout/layout.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

// A failed mount in auto mode: the kernel (or ferryd's privileges) will not do better later.
std::atomic<bool> g_overlay_unusable{false};
std::once_flag g_overlay_logged;

// A layer named in a layers file, whose hex was checked when the file was read.
stdfs::path LayerDir(const stdfs::path& layers_dir, std::string_view hex) {
  auto diff_id = Digest::FromHex(hex);
  FERRY_CHECK(diff_id.has_value());
  return layout::LayerPath(layers_dir, *diff_id);
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) {
    return false;
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool IsDir(const stdfs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// True when a file system other than the revision folder's is mounted on <dir>/rootfs.
bool IsMounted(const stdfs::path& dir) {
  struct stat parent {};
  struct stat mp {};
  if (::lstat(dir.c_str(), &parent) != 0 ||
      ::lstat(layout::RevisionRootfs(dir).c_str(), &mp) != 0) {
    return false;
  }
  return S_ISDIR(mp.st_mode) && mp.st_dev != parent.st_dev;
}

// The mount(2) data: lowerdir lists the top layer first. There is always an upper dir, even for
// a read-only root: the runtime creates mount points (/proc, /dev, volumes) in the root before it
// makes it read-only inside the container, as it does in a hardlink farm.
std::string MountOptions(const stdfs::path& layers_dir, const std::vector<std::string>& hexes,
                         const stdfs::path& dir) {
  std::string lower;
  for (auto it = hexes.rbegin(); it != hexes.rend(); ++it) {
    lower += (lower.empty() ? "" : ":") + LayerDir(layers_dir, *it).string();
  }
  return "lowerdir=" + lower + ",upperdir=" + layout::RevisionOverlayUpper(dir).string() +
         ",workdir=" + layout::RevisionOverlayWork(dir).string();
}

// Why overlay cannot serve these layers as they are unpacked, or empty when it can.
std::string OverlayObstacle(const std::vector<RootfsLayer>& layers, const stdfs::path& dir) {
  if (layers.empty()) {
    return "the release has no layers";
  }
  std::vector<std::string> hexes;
  for (const auto& layer : layers) {
    if (layer.dir.parent_path() != layers.front().dir.parent_path() ||
        !IsHex64(layer.dir.filename().string())) {
      return "layer " + layer.dir.string() + " is not in the layer store";
    }
    // Layers are unpacked with their whiteouts in a list, not as the 0:0 devices and opaque
    // xattrs overlayfs reads, so a mount would show what they delete. Writing those markers into
    // the layer store is no option: layers are shared, read by deltas and by hardlink farms, and
    // never written once complete. Such revisions get the hardlink farm, which applies the list.
    std::error_code ec;
    const auto size = stdfs::file_size(layer.whiteouts_file, ec);
    if (!ec && size > 0) {
      return "layer " + layer.dir.filename().string() + " deletes files of lower layers";
    }
    hexes.push_back(layer.dir.filename().string());
  }
  // Paths go into a ':' and ',' separated option string, which mount(2) takes up to one page.
  for (const auto& p : {layers.front().dir.parent_path(), dir}) {
    if (p.string().find_first_of(":,\\") != std::string::npos) {
      return "the path " + p.string() + " holds a character overlay options cannot carry";
    }
  }
  // `dir` is the staging folder, whose name is longer than the revision's: what fits here fits
  // when the revision is mounted again.
  const std::size_t length = MountOptions(layers.front().dir.parent_path(), hexes, dir).size();
  const long page = ::sysconf(_SC_PAGESIZE);
  if (length >= static_cast<std::size_t>(page > 0 ? page : 4096)) {
    return std::to_string(layers.size()) + " layers do not fit in overlay's mount options";
  }
  return {};
}

Result<std::vector<std::string>> ReadLayersFile(const stdfs::path& dir) {
  auto text = fs::ReadFile(layout::RevisionOverlayLayers(dir), 64u << 10);
  if (!text) {
    return Fail(text.error());
  }
  std::vector<std::string> hexes;
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) {
      end = text->size();
    }
    const std::string line = text->substr(start, end - start);
    start = end + 1;
    if (!IsHex64(line)) {
      return Fail(Errc::kCorrupt, layout::RevisionOverlayLayers(dir).string() + ": not a layer: '" +
                                      line.substr(0, 80) + "'");
    }
    hexes.push_back(line);
  }
  if (hexes.empty()) {
    return Fail(Errc::kCorrupt, layout::RevisionOverlayLayers(dir).string() + " lists no layers");
  }
  return hexes;
}

Status Mount(const stdfs::path& layers_dir, const std::vector<std::string>& hexes,
             const stdfs::path& dir) {
  for (const auto& hex : hexes) {
    if (!IsDir(LayerDir(layers_dir, hex))) {
      return Fail(Errc::kNotFound, "layer " + hex + " of " + dir.filename().string() +
                                       " is missing from " + layers_dir.string());
    }
  }
  const std::string options = MountOptions(layers_dir, hexes, dir);
  const stdfs::path target = layout::RevisionRootfs(dir);
  if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0) {
    return Fail(ErrnoError("mounting an overlay on " + target.string()));
  }
  return Ok();
}

Status SyncTree(const stdfs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrnoError("open " + dir.string()));
  }
  const int rc = ::syncfs(fd);
  ::close(fd);
  return rc == 0 ? Ok() : Fail(ErrnoError("syncfs " + dir.string()));
}

// Tries the overlay in staging folder `dir`: its skeleton, a mount and an unmount. Sets
// `mount_refused` when the kernel refused the mount itself.
Status TryOverlay(const std::vector<RootfsLayer>& layers, const stdfs::path& dir,
                  bool& mount_refused) {
  std::vector<std::string> hexes;
  std::string list;
  for (const auto& layer : layers) {
    hexes.push_back(layer.dir.filename().string());
    list += hexes.back() + "\n";
  }
  list.pop_back();
  if (::mkdir(layout::RevisionOverlay(dir).c_str(), 0700) != 0) {
    return Fail(ErrnoError("mkdir " + layout::RevisionOverlay(dir).string()));
  }
  // The upper dir's mode is the root's mode.
  for (const auto& d : {layout::RevisionOverlayUpper(dir), layout::RevisionOverlayWork(dir)}) {
    if (::mkdir(d.c_str(), 0755) != 0) {
      return Fail(ErrnoError("mkdir " + d.string()));
    }
  }
  if (::mkdir(layout::RevisionRootfs(dir).c_str(), 0755) != 0) {
    return Fail(ErrnoError("mkdir " + layout::RevisionRootfs(dir).string()));
  }
  if (auto st = Mount(layers.front().dir.parent_path(), hexes, dir); !st) {
    mount_refused = true;
    return st;
  }
  if (auto st = UnmountRevisionRootfs(dir); !st) {
    return st;
  }
  // Written last: a folder with this file is an overlay revision.
  if (auto st = fs::WriteFileAtomic(layout::RevisionOverlayLayers(dir), list, 0600); !st) {
    return st;
  }
  return SyncTree(dir);
}

Status RemoveOverlaySkeleton(const stdfs::path& dir) {
  if (auto st = UnmountRevisionRootfs(dir); !st) {
    return st;
  }
  for (const auto& p : {layout::RevisionOverlay(dir), layout::RevisionRootfs(dir)}) {
    if (auto st = layers::RemoveTree(p); !st) {
      return st;
    }
  }
  return Ok();
}

}  // namespace

Result<RootfsMode> ParseRootfsMode(std::string_view text) {
  for (auto mode : {RootfsMode::kAuto, RootfsMode::kOverlay, RootfsMode::kHardlink}) {
    if (text == RootfsModeName(mode)) {
      return mode;
    }
  }
  return Fail(Errc::kInvalidArgument,
              "'" + std::string(text.substr(0, 64)) + "' is not auto, overlay or hardlink");
}

std::string_view RootfsModeName(RootfsMode mode) {
  switch (mode) {
    case RootfsMode::kAuto:
      return "auto";
    case RootfsMode::kOverlay:
      return "overlay";
    case RootfsMode::kHardlink:
      return "hardlink";
  }
  return "auto";
}

void ResetOverlayProbeForTesting() { g_overlay_unusable = false; }

Result<RootfsKind> BuildRevisionRootfs(const std::vector<RootfsLayer>& layers,
                                       const stdfs::path& dir, bool writable, RootfsMode mode) {
  const stdfs::path rootfs = layout::RevisionRootfs(dir);
  if (auto st = CheckLayerStack(layers); !st) {
    return Fail(st.error());
  }
  auto hardlink = [&]() -> Result<RootfsKind> {
    if (auto st = AssembleRootfs(layers, rootfs, writable); !st) {
      return Fail(st.error());
    }
    return RootfsKind::kHardlink;
  };
  if (mode == RootfsMode::kHardlink || (mode == RootfsMode::kAuto && g_overlay_unusable)) {
    return hardlink();
  }
  if (std::string obstacle = OverlayObstacle(layers, dir); !obstacle.empty()) {
    log::info("{}: a hardlink farm instead of an overlay: {}", dir.filename().string(), obstacle);
    return hardlink();
  }
  bool mount_refused = false;
  Status tried = TryOverlay(layers, dir, mount_refused);
  if (tried) {
    return RootfsKind::kOverlay;
  }
  if (auto st = RemoveOverlaySkeleton(dir); !st) {
    return Fail(st.error().WithContext("after " + tried.error().message()));
  }
  if (mode == RootfsMode::kOverlay) {
    return Fail(tried.error().WithContext(
        "[runtime] rootfs = \"overlay\", but the overlay root filesystem failed"));
  }
  if (!mount_refused) {
    log::warn("{}: a hardlink farm instead of an overlay: {}", dir.filename().string(),
              tried.error().message());
    return hardlink();
  }
  g_overlay_unusable = true;
  std::call_once(g_overlay_logged, [&] {
    log::warn("overlay root filesystems are not available ({}); using hardlink farms",
              tried.error().message());
  });
  return hardlink();
}

RootfsKind RevisionRootfsKind(const stdfs::path& dir) {
  std::error_code ec;
  return stdfs::exists(layout::RevisionOverlayLayers(dir), ec) ? RootfsKind::kOverlay
                                                               : RootfsKind::kHardlink;
}

bool RevisionRootfsHasItsLayers(const stdfs::path& layers_dir, const stdfs::path& dir) {
  if (RevisionRootfsKind(dir) != RootfsKind::kOverlay) {
    return true;
  }
  auto hexes = ReadLayersFile(dir);
  if (!hexes) {
    return false;
  }
  for (const auto& hex : *hexes) {
    if (!IsDir(LayerDir(layers_dir, hex))) {
      return false;
    }
  }
  return true;
}

Status MountRevisionRootfs(const stdfs::path& layers_dir, const stdfs::path& dir) {
  if (RevisionRootfsKind(dir) != RootfsKind::kOverlay || IsMounted(dir)) {
    return Ok();
  }
  auto hexes = ReadLayersFile(dir);
  if (!hexes) {
    return Fail(hexes.error());
  }
  return Mount(layers_dir, *hexes, dir);
}

Status UnmountRevisionRootfs(const stdfs::path& dir) {
  const stdfs::path target = layout::RevisionRootfs(dir);
  // Mounted twice (by hand, or a race with another mounter) unwinds too; bounded all the same.
  for (int i = 0; i < 8 && IsMounted(dir); ++i) {
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) {
      continue;
    }
    if (errno == EBUSY && ::umount2(target.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) == 0) {
      continue;
    }
    if (errno == EINVAL || errno == ENOENT) {
      break;
    }
    return Fail(ErrnoError("unmounting " + target.string()));
  }
  if (IsMounted(dir)) {
    return Fail(Errc::kFailedPrecondition, target.string() + " is still mounted");
  }
  return Ok();
}

Status RemoveRevisionDir(const stdfs::path& dir) {
  if (auto st = UnmountRevisionRootfs(dir); !st) {
    return st;
  }
  return layers::RemoveTree(dir);
}

}  // namespace ferry::engine
