#include "pending_blobs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "ferry/core/fs.hpp"
#include "repo_lock.hpp"

namespace ferry::publish {

namespace {

std::filesystem::path PendingDir(const std::filesystem::path& repo) {
  return repo / ".ferry-publish.pending";
}

}  // namespace

PendingBlobs::~PendingBlobs() {
  if (fd_.valid()) {
    std::error_code ec;
    std::filesystem::remove(file_, ec);
  }
}

Status PendingBlobs::Add(const std::string& hex) {
  auto lock = LockRepository(repo_, LockMode::kShared);
  if (!lock) {
    return Fail(lock.error().WithContext("recording blob " + hex));
  }
  if (!fd_.valid()) {
    // Created and locked under the repository lock: gc never sees the file unlocked while its
    // owner lives.
    const auto dir = PendingDir(repo_);
    FERRY_TRY_STATUS(fs::MakeDirs(dir), "creating " + dir.string());
    for (unsigned n = 0; !fd_.valid(); ++n) {
      file_ = dir / (std::to_string(::getpid()) + "." + std::to_string(n));
      fd_.Reset(::open(file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644));
      if (!fd_.valid() && errno != EEXIST) {
        return Fail(ErrnoError("create " + file_.string()));
      }
    }
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
      return Fail(ErrnoError("flock " + file_.string()));
    }
  }
  // No fsync: the record matters only while this process lives.
  const std::string line = hex + "\n";
  if (::write(fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return Fail(ErrnoError("write " + file_.string()));
  }
  return Ok();
}

Result<std::set<std::string>> BlobsOfReleasesInProgress(const std::filesystem::path& repo,
                                                        bool dry_run) {
  std::set<std::string> blobs;
  const auto dir = PendingDir(repo);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    return blobs;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto& path = entry.path();
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) {
        continue;  // its release just finished
      }
      return Fail(ErrnoError("open " + path.string()));
    }
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      if (!dry_run) {
        std::error_code remove_ec;
        std::filesystem::remove(path, remove_ec);
      }
      continue;
    }
    if (errno != EWOULDBLOCK) {
      return Fail(ErrnoError("flock " + path.string()));
    }
    auto text = fs::ReadFile(path);
    if (!text) {
      return Fail(text.error());
    }
    std::size_t start = 0;
    while (start < text->size()) {
      const std::size_t end = std::min(text->find('\n', start), text->size());
      if (end > start) {
        blobs.insert(text->substr(start, end - start));
      }
      start = end + 1;
    }
  }
  if (ec) {
    return Fail(SystemError("listing " + dir.string(), ec));
  }
  return blobs;
}

}  // namespace ferry::publish
