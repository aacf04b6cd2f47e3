// Blobs a running release has stored (or is storing) in DIR/blobs/sha256/ that no signed metadata
// lists yet, so that gc leaves them alone (rules in docs/repository.md, "Concurrency").
//
// Each running release keeps one file DIR/.ferry-publish.pending/<pid>.<n>, one hex digest a line,
// and holds an exclusive flock on it while it lives. A file nobody holds was left by a release
// that died: its blobs are orphans like any other unreferenced blob.
#pragma once

#include <filesystem>
#include <set>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::publish {

class PendingBlobs {
 public:
  explicit PendingBlobs(std::filesystem::path repo) : repo_(std::move(repo)) {}
  // Removes the file: after the release's metadata lists its blobs, or after it failed (then
  // its blobs are orphans for gc).
  ~PendingBlobs();
  PendingBlobs(const PendingBlobs&) = delete;
  PendingBlobs& operator=(const PendingBlobs&) = delete;

  // Records the blob `hex` before anything of it is written to the blob store. Holds the
  // repository lock shared while it writes, so gc (which holds it exclusively) either sees the
  // digest or ran before the blob existed. Creates the file on first use. Fails with the lock's
  // errors (kUnavailable) or kIo.
  Status Add(const std::string& hex);

 private:
  std::filesystem::path repo_;
  std::filesystem::path file_;
  UniqueFd fd_;
};

// The blobs of the releases in progress in `repo`. Removes the files of releases that died unless
// `dry_run`. Call with the repository lock held exclusively. Fails with kIo when the directory
// or a live release's file cannot be read.
Result<std::set<std::string>> BlobsOfReleasesInProgress(const std::filesystem::path& repo,
                                                        bool dry_run);

}  // namespace ferry::publish
