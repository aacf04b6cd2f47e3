// Cgroup helpers for tests: a test that gives its containers a cgroup parent of its own removes
// it afterwards, in every hierarchy. Header-only.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "support/process.hpp"

namespace ferry::testing {

// Removes the cgroup `parent` ("/name") and everything below it from /sys/fs/cgroup (v2) and
// each v1 hierarchy. runc delete leaves the parent empty; after a failed test a container's own
// cgroup may be left below it. Returns the cgroups that could not be removed, with the reason.
inline std::vector<std::string> RemoveCgroupTree(const std::string& parent) {
  namespace stdfs = std::filesystem;
  const std::string leaf = parent.substr(1);
  std::vector<stdfs::path> parents = {stdfs::path("/sys/fs/cgroup") / leaf};
  std::error_code ec;
  for (const auto& hierarchy : stdfs::directory_iterator("/sys/fs/cgroup", ec)) {
    parents.push_back(hierarchy.path() / leaf);
  }
  std::vector<std::string> left;
  for (const auto& top : parents) {
    std::error_code exists_ec;
    if (!stdfs::is_directory(top, exists_ec)) {
      continue;
    }
    std::vector<stdfs::path> dirs = {top};
    std::error_code walk_ec;
    for (auto sub = stdfs::recursive_directory_iterator(top, walk_ec);
         !walk_ec && sub != stdfs::recursive_directory_iterator(); sub.increment(walk_ec)) {
      if (sub->is_directory(walk_ec)) {
        dirs.push_back(sub->path());
      }
    }
    for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) {
      // The kernel frees a cgroup a moment after its last process is reaped: EBUSY until then.
      const bool removed = WaitFor([&] { return ::rmdir(d->c_str()) == 0 || errno == ENOENT; },
                                   std::chrono::seconds(5));
      if (!removed) {
        left.push_back(d->string() + ": " + std::strerror(errno));
      }
    }
  }
  return left;
}

}  // namespace ferry::testing
