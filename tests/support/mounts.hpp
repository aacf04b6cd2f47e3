// Mount points in the test's mount namespace, for tests that leave mounts behind on purpose
// (overlay root filesystems outlive the engine) and must not leak them. Header-only.
#pragma once

#include <sys/mount.h>

#include <algorithm>
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

}  // namespace ferry::testing
