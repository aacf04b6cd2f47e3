// Unpacking a blob while it downloads: a ByteSource over a file that another thread (the blob
// fetcher) is still appending to. The stream ends only once the writer has declared the file
// complete and verified AND the bytes this source handed out hash to the signed digest, so a
// layer staged from it (StageLayer renames only after reading the source to its end) never rests
// on bytes that were not verified, whatever the writer did in between (a restart that truncates
// the file, a server that changes the body between attempts).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/layers/byte_source.hpp"

namespace ferry::layers {

class GrowingFileSource final : public ByteSource {
 public:
  // Follows `path` (which may not exist yet), whose finished content is `size` bytes with sha256
  // `digest` ("sha256:<hex>").
  GrowingFileSource(std::filesystem::path path, std::string digest, std::uint64_t size,
                    std::size_t chunk_size = 256 * 1024);
  ~GrowingFileSource() override;
  GrowingFileSource(const GrowingFileSource&) = delete;
  GrowingFileSource& operator=(const GrowingFileSource&) = delete;

  // Writer side, thread-safe. `bytes` is how many bytes at the start of the file are written (a
  // BlobFetcher's progress callback). A value below an earlier one means the writer started over:
  // the bytes already handed out are stale, and Next() fails from then on (Errc::kCorrupt); the
  // caller stages again from the finished file.
  void Grew(std::uint64_t bytes);
  // Writer side, thread-safe, once: the file is complete and verified (ok), or the writer failed
  // (its error is returned by Next(), after the bytes already written).
  void Finish(Status status);

  // Blocks until bytes past those already read are written, or Finish() is called. Fails with
  // the writer's error (also when the file is gone before it was opened, as after a digest
  // mismatch: then it waits for Finish() to learn why), with Errc::kCorrupt when the writer started
  // over or when the bytes read do not hash to the digest, or with an errno error. Returns end of
  // stream only after Finish(Ok) and a matching hash of all `size` bytes.
  Result<std::span<const std::byte>> Next() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ferry::layers
