// Mount helpers for tests: the mount points below a directory (overlay root filesystems outlive
// the engine on purpose and must not leak), and whether overlay mounts work here. Header-only.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ferry::testing {

// Mount points at or below `root`, from /proc/self/mountinfo, deepest last.
inline std::vector<std::filesystem::path> MountsBelow(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> found;
  std::ifstream in("/proc/self/mountinfo");
  const std::string prefix = root.string();
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, source_root, point;
    fields >> id >> parent >> devno >> source_root >> point;
    std::string decoded;  // spaces, tabs and backslashes come as \ooo
    for (std::size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        decoded += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        decoded += point[i];
      }
    }
    if (decoded == prefix || decoded.starts_with(prefix + "/")) {
      found.emplace_back(decoded);
    }
  }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.string().size() < b.string().size();
  });
  return found;
}

// Unmounts everything strictly below `root`, deepest first (lazily when busy). Returns how many.
inline int UnmountAllBelow(const std::filesystem::path& root) {
  int count = 0;
  auto mounts = MountsBelow(root);
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    if (*it == root) {
      continue;
    }
    if (::umount2(it->c_str(), 0) == 0 || ::umount2(it->c_str(), MNT_DETACH) == 0) {
      ++count;
    }
  }
  return count;
}

// Why this process cannot mount an overlay here (probing below `scratch`), or empty when it can.
inline std::string OverlayUnavailable(const std::filesystem::path& scratch) {
  if (::geteuid() != 0) {
    return "not root";
  }
  for (const auto* d : {"a", "b", "m"}) {
    std::filesystem::create_directories(scratch / d);
  }
  const std::string options =
      "lowerdir=" + (scratch / "a").string() + ":" + (scratch / "b").string();
  if (::mount("overlay", (scratch / "m").c_str(), "overlay", MS_RDONLY, options.c_str()) != 0) {
    return std::string("mount -t overlay: ") + std::strerror(errno);
  }
  ::umount2((scratch / "m").c_str(), 0);
  return {};
}

}  // namespace ferry::testing
