// Where the bytes of a layer come from: a file, a zstd decompressor, a delta decoder. The extractor
// pulls chunks from a ByteSource, so memory stays bounded by one chunk whatever the layer's size.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::layers {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // The next chunk of the stream. The span stays valid until the next call to Next() or until the
  // source is destroyed. An empty span means end of stream; after it Next() keeps returning empty.
  // An error is final: the caller stops reading. Not thread-safe.
  virtual Result<std::span<const std::byte>> Next() = 0;
};

// Reads an already-open file descriptor in chunks of `chunk_size` bytes. Does not own the fd.
class FdSource final : public ByteSource {
 public:
  explicit FdSource(int fd, std::size_t chunk_size = 256 * 1024);
  Result<std::span<const std::byte>> Next() override;

 private:
  int fd_;
  std::vector<std::byte> buffer_;
};

// Opens and reads a file. Fails with an errno error (from Next()) when the file cannot be opened.
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::filesystem::path& path, std::size_t chunk_size = 256 * 1024);
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  Result<std::span<const std::byte>> Next() override;

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  int open_errno_ = 0;
  FdSource inner_;
};

// Serves a byte buffer it does not own (tests, small payloads) in chunks of `chunk_size`.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const std::byte> data, std::size_t chunk_size = 64 * 1024)
      : data_(data), chunk_size_(chunk_size) {}
  Result<std::span<const std::byte>> Next() override;

 private:
  std::span<const std::byte> data_;
  std::size_t chunk_size_;
  std::size_t offset_ = 0;
};

// Adapts a callback with ByteSource's contract (same validity and end-of-stream rules).
class CallbackSource final : public ByteSource {
 public:
  using Callback = std::function<Result<std::span<const std::byte>>()>;
  explicit CallbackSource(Callback callback) : callback_(std::move(callback)) {}
  Result<std::span<const std::byte>> Next() override { return callback_(); }

 private:
  Callback callback_;
};

// The largest zstd window of a layer blob: ferry-publish compresses with this window, and a device
// refuses a frame that asks for more. The window is the bulk of what staging a layer holds in
// memory (8 MiB of ferryd's 32 MiB budget for staging), whatever the layer unpacks to.
inline constexpr int kLayerZstdWindowLog = 23;

// Decompresses a zstd stream (one or more frames) read from `inner`, which must outlive it.
// A stream that ends inside a frame fails with Errc::kCorrupt, as does any zstd decoding error; a
// frame whose window is over 2^kLayerZstdWindowLog bytes fails with Errc::kLimitExceeded before
// its window is allocated. Decompression runs on the caller's thread; memory is bounded by the
// window plus one input and one output buffer.
class ZstdSource final : public ByteSource {
 public:
  explicit ZstdSource(ByteSource& inner);
  ~ZstdSource() override;
  ZstdSource(const ZstdSource&) = delete;
  ZstdSource& operator=(const ZstdSource&) = delete;
  Result<std::span<const std::byte>> Next() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Reads `inner` ahead on a thread of its own, so that producing bytes (decompression, a delta
// decoder, disk reads) overlaps with consuming them (hashing and writing files). Chunks are
// gathered into `buffers` buffers of `buffer_size` bytes: memory is bounded by their sum. `inner`
// must outlive this source and is used only by its thread until the destructor returns. An error
// of `inner` is returned by Next() after the bytes read before it. The destructor stops the
// thread (it waits for the inner Next() call in progress).
class ReadAheadSource final : public ByteSource {
 public:
  explicit ReadAheadSource(ByteSource& inner, std::size_t buffers = 4,
                           std::size_t buffer_size = 1 << 20);
  ~ReadAheadSource() override;
  ReadAheadSource(const ReadAheadSource&) = delete;
  ReadAheadSource& operator=(const ReadAheadSource&) = delete;
  Result<std::span<const std::byte>> Next() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ferry::layers
