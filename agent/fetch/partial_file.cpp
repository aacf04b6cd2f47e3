#include "partial_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/fetch/http_client.hpp"

namespace ferry::fetch {
namespace {

Error FileError(std::string_view what, const std::filesystem::path& path, int err) {
  const std::string message =
      std::string(what) + " " + path.string() + ": " + std::generic_category().message(err);
  // A full disk is the one local failure the engine handles on its own (free space, GC).
  if (err == ENOSPC || err == EDQUOT) {
    return MakeError(Errc::kNoSpace, message);
  }
  return MakeError(FetchErrc::kIo, message);
}

}  // namespace

PartialFile::PartialFile(std::filesystem::path path, UniqueFd fd)
    : path_(std::move(path)), fd_(std::move(fd)), hash_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {}

Status PartialFile::ResetHash() {
  if (!hash_ || EVP_DigestInit_ex(hash_.get(), EVP_sha256(), nullptr) != 1) {
    return Fail(FetchErrc::kIo, "sha256 of " + path_.string() + ": cannot start a digest");
  }
  return Ok();
}

Result<PartialFile> PartialFile::Open(const std::filesystem::path& path, std::uint64_t max_size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    return Fail(FileError("opening", path, errno));
  }
  PartialFile file(path, UniqueFd(fd));
  FERRY_TRY_STATUS(file.ResetHash(), "partial file");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Fail(FileError("stat of", path, errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(FetchErrc::kIo, path.string() + ": not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    FERRY_TRY_STATUS(file.Truncate(), "partial file longer than its blob");
    return file;
  }
  std::vector<char> buffer(1 << 16);
  std::uint64_t done = 0;
  const auto want = static_cast<std::uint64_t>(st.st_size);
  while (done < want) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(FileError("reading", path, errno));
    }
    if (n == 0) {
      break;  // the file shrank under us; hash what is there
    }
    if (EVP_DigestUpdate(file.hash_.get(), buffer.data(), static_cast<std::size_t>(n)) != 1) {
      return Fail(FetchErrc::kIo, "sha256 of " + path.string() + ": update failed");
    }
    done += static_cast<std::uint64_t>(n);
  }
  file.size_ = done;
  if (done != want && ::ftruncate(fd, static_cast<off_t>(done)) != 0) {
    return Fail(FileError("truncating", path, errno));
  }
  return file;
}

Status PartialFile::Append(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(), static_cast<off_t>(size_));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      // Never leave bytes on disk that the hash does not cover.
      (void)::ftruncate(fd_.get(), static_cast<off_t>(size_));
      return Fail(FileError("writing", path_, err));
    }
    const auto written = static_cast<std::size_t>(n);
    if (EVP_DigestUpdate(hash_.get(), data.data(), written) != 1) {
      return Fail(FetchErrc::kIo, "sha256 of " + path_.string() + ": update failed");
    }
    size_ += written;
    data.remove_prefix(written);
  }
  return Ok();
}

Status PartialFile::Truncate() {
  if (::ftruncate(fd_.get(), 0) != 0) {
    return Fail(FileError("truncating", path_, errno));
  }
  size_ = 0;
  return ResetHash();
}

std::string PartialFile::Digest() const {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> copy(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!copy || EVP_MD_CTX_copy_ex(copy.get(), hash_.get()) != 1 ||
      EVP_DigestFinal_ex(copy.get(), md, &len) != 1) {
    return {};  // compares unequal to every digest
  }
  return FormatSha256Digest({md, len});
}

Status PartialFile::Sync() {
  if (::fsync(fd_.get()) != 0) {
    return Fail(FileError("fsync of", path_, errno));
  }
  return fs::SyncParent(path_);
}

Status PartialFile::Remove() {
  fd_.Reset();
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return Fail(FileError("deleting", path_, errno));
  }
  return fs::SyncParent(path_);
}

}  // namespace ferry::fetch
