#include "ferry/layers/growing_file_source.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "ferry/core/unique_fd.hpp"

namespace ferry::layers {

struct GrowingFileSource::State {
  std::filesystem::path path;
  std::string digest;
  std::uint64_t size = 0;
  std::vector<std::byte> buffer;
  UniqueFd fd;
  std::uint64_t offset = 0;  // bytes handed out
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  std::optional<Error> failed;  // final: every later Next() returns it
  bool at_end = false;          // the verified end was reached

  std::mutex mu;
  std::condition_variable changed;
  std::uint64_t written = 0;       // guarded by mu
  bool restarted = false;          // guarded by mu
  std::optional<Status> finished;  // guarded by mu

  Result<std::span<const std::byte>> Fail(Error error) {
    failed = error;
    return std::unexpected(std::move(error));
  }
};

GrowingFileSource::GrowingFileSource(std::filesystem::path path, std::string digest,
                                     std::uint64_t size, std::size_t chunk_size)
    : state_(std::make_unique<State>()) {
  state_->path = std::move(path);
  state_->digest = std::move(digest);
  state_->size = size;
  state_->buffer.resize(std::max<std::size_t>(chunk_size, 1));
  if (!state_->sha || EVP_DigestInit_ex(state_->sha.get(), EVP_sha256(), nullptr) != 1) {
    state_->failed = MakeError(Errc::kIo, "cannot start a sha256 digest");
  }
}

GrowingFileSource::~GrowingFileSource() = default;

void GrowingFileSource::Grew(std::uint64_t bytes) {
  std::lock_guard lock(state_->mu);
  if (bytes < state_->written) {
    state_->restarted = true;
  }
  state_->written = bytes;
  state_->changed.notify_all();
}

void GrowingFileSource::Finish(Status status) {
  std::lock_guard lock(state_->mu);
  if (!state_->finished) {
    state_->finished = std::move(status);
  }
  state_->changed.notify_all();
}

Result<std::span<const std::byte>> GrowingFileSource::Next() {
  State& s = *state_;
  if (s.failed) {
    return std::unexpected(*s.failed);
  }
  if (s.at_end) {
    return std::span<const std::byte>();
  }
  std::uint64_t available = 0;
  std::optional<Status> finished;
  {
    std::unique_lock lock(s.mu);
    // Bytes past the signed size are not waited for: until the writer reports how its download
    // ended, there is nothing more to read.
    s.changed.wait(
        lock, [&] { return s.restarted || std::min(s.written, s.size) > s.offset || s.finished; });
    if (s.restarted) {
      return s.Fail(MakeError(Errc::kCorrupt, s.path.string() +
                                                  ": the download started over while it was "
                                                  "being unpacked"));
    }
    available = std::min(s.written, s.size);
    finished = s.finished;
  }
  if (available <= s.offset) {
    // Finished, and nothing more was written.
    if (!*finished) {
      return s.Fail(finished->error());
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(s.sha.get(), md, &length) != 1) {
      return s.Fail(MakeError(Errc::kIo, "cannot finish a sha256 digest"));
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string got = "sha256:";
    for (unsigned int i = 0; i < length; ++i) {
      got += kHex[md[i] >> 4];
      got += kHex[md[i] & 0xf];
    }
    if (s.offset != s.size || got != s.digest) {
      return s.Fail(MakeError(Errc::kCorrupt, s.path.string() + ": the " +
                                                  std::to_string(s.offset) +
                                                  " bytes read hash "
                                                  "to " +
                                                  got + ", not the signed " + s.digest));
    }
    s.at_end = true;
    return std::span<const std::byte>();
  }
  if (!s.fd.valid()) {
    s.fd.Reset(::open(s.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!s.fd.valid()) {
      const int err = errno;
      Error error = ErrnoError("opening " + s.path.string(), err);
      if (err == ENOENT) {
        // Written to, then gone: the writer removes its file when the download fails its digest
        // check, before it reports that. Its error, once reported, is the one that says why.
        std::unique_lock lock(s.mu);
        s.changed.wait(lock, [&] { return s.finished.has_value(); });
        if (!*s.finished) {
          error = s.finished->error();
        }
      }
      return s.Fail(std::move(error));
    }
  }
  const std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(available - s.offset, s.buffer.size()));
  ssize_t n = 0;
  do {
    n = ::pread(s.fd.get(), s.buffer.data(), want, static_cast<off_t>(s.offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return s.Fail(ErrnoError("reading " + s.path.string()));
  }
  if (n == 0) {
    // Shorter than the writer said: it truncated the file and has not reported it yet.
    return s.Fail(MakeError(Errc::kCorrupt, s.path.string() +
                                                ": the download started over while it was being "
                                                "unpacked"));
  }
  const auto got = static_cast<std::size_t>(n);
  if (EVP_DigestUpdate(s.sha.get(), s.buffer.data(), got) != 1) {
    return s.Fail(MakeError(Errc::kIo, "cannot update a sha256 digest"));
  }
  s.offset += got;
  return std::span<const std::byte>(s.buffer.data(), got);
}

}  // namespace ferry::layers
