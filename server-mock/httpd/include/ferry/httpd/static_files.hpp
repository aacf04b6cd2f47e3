// Serves a directory of static files (a Ferry repository) for GET and HEAD: Range, strong ETag,
// If-None-Match, If-Modified-Since, If-Range, Last-Modified. Paths are confined to the root:
// ".." is refused, and symlinks are resolved by the kernel beneath the root (openat2
// RESOLVE_BENEATH; realpath and a prefix check where openat2 is not available), so no symlink
// leads out of it. Directories, devices and FIFOs are 404; there are no listings.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/httpd/router.hpp"

namespace ferry::httpd {

class StaticFiles {
 public:
  // How paths are kept below the root.
  enum class Confinement {
    kKernel,    // openat2 RESOLVE_BENEATH; falls back to kRealpath where openat2 is refused
    kRealpath,  // realpath, then a prefix check (racy against concurrent renames in the repo)
  };

  // Opens `root` (which must be a directory) once; files are then opened relative to it.
  // Fails with kBadRoot when it cannot be opened.
  static Result<std::shared_ptr<StaticFiles>> Open(const std::filesystem::path& root,
                                                   Confinement confinement = Confinement::kKernel);
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  // Answers a GET or HEAD request for the raw path `raw_path` ("/targets/x.json"). Thread-safe.
  Response Serve(const Request& request, std::string_view raw_path) const;

 private:
  StaticFiles(UniqueFd root_fd, std::string root_real, Confinement confinement)
      : root_fd_(std::move(root_fd)), root_real_(std::move(root_real)), confinement_(confinement) {}
  int OpenBeneath(const std::string& relative) const;  // fd, or -1 with errno set

  UniqueFd root_fd_;
  std::string root_real_;  // canonical root, for the realpath fallback
  Confinement confinement_;
};

// A handler for a route "/{path...}": serves the rest capture named "path".
Handler StaticFilesHandler(std::shared_ptr<const StaticFiles> files);

// Content-Type for a file name: application/json for .json, application/octet-stream otherwise.
std::string_view ContentTypeFor(std::string_view name);

}  // namespace ferry::httpd
