// A snapshot of a directory tree outside what a test stages, to show that nothing there changed.
// Header-only.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ferry/core/fs.hpp"

namespace ferry::testing {

// Every node below `root`, itself included: type and mode, owner, size, mtime and ctime (a chmod
// or chown that was undone still shows in ctime), and a file's content or a symlink's target. A
// node that vanished during the walk shows as "gone".
inline std::map<std::string, std::string> SnapshotTree(const std::filesystem::path& root) {
  std::map<std::string, std::string> out;
  std::vector<std::filesystem::path> paths{root};
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    paths.push_back(e.path());
  }
  for (const auto& p : paths) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      out[p.string()] = "gone";
      continue;
    }
    std::string what = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                       std::to_string(st.st_gid) + " " + std::to_string(st.st_size) + " m" +
                       std::to_string(st.st_mtim.tv_sec) + "." +
                       std::to_string(st.st_mtim.tv_nsec) + " c" +
                       std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      what += " " + fs::ReadFile(p).value_or("(unreadable)");
    } else if (S_ISLNK(st.st_mode)) {
      what += " -> " + std::filesystem::read_symlink(p).string();
    }
    out[p.string()] = what;
  }
  return out;
}

}  // namespace ferry::testing
