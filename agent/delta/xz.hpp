// xz (LZMA2) helpers: whole-buffer compression for the encoder, and a bounded-memory reader of
// one xz stream stored at a byte range of a file for the decoder.
#pragma once

#include <lzma.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "spool.hpp"

namespace ferry::delta {

// An .xz stream (CRC64 check) of `data`, LZMA2 at `preset` with the extreme flag and a
// dictionary of at most `dict_cap` bytes (smaller when the data is smaller).
Result<std::string> XzCompress(std::string_view data, int preset, std::uint32_t dict_cap);

// The same for a stream too large to hold: reads `in` (flushed) and appends the .xz stream to
// `out` through bounded buffers. The dictionary is chosen from in.size() as above.
Status XzCompressSpool(const Spool& in, Spool& out, int preset, std::uint32_t dict_cap);

// Compresses one stream on a thread of its own while its bytes are still coming, into an .xz
// stream appended to a Spool, with a fixed dictionary (the size is not known in advance). With a
// `block_size`, the stream is cut into xz blocks of that many bytes, compressed by up to
// `threads` threads at once; 0: one block, one thread. The output depends only on the bytes and
// the block size, not on how they are handed over nor on the number of threads. Memory: the
// encoders, twice a block for each thread, and at most 8 MiB of bytes waiting.
class XzWriter {
 public:
  XzWriter(Spool out, int preset, std::uint32_t dict_size, unsigned threads = 1,
           std::uint64_t block_size = 0);
  ~XzWriter();
  XzWriter(const XzWriter&) = delete;
  XzWriter& operator=(const XzWriter&) = delete;

  // Takes the next bytes; blocks while too many wait. An error is reported by Finish.
  void Append(std::string_view bytes);
  // Ends the stream and hands back the compressed bytes (flushed).
  Result<Spool> Finish();
  std::uint64_t raw_size() const { return raw_size_; }

 private:
  struct State;
  void Run();
  void Push();

  std::unique_ptr<State> state_;
  std::string pending_;
  std::uint64_t raw_size_ = 0;
};

// Size of `data` as raw LZMA2 at a fast preset: the yardstick the encoder chooses candidates by.
// Thread-safe.
std::uint64_t LzmaEstimate(std::string_view data);

// Reads the xz stream in [offset, offset + compressed_size) of `fd`, which must decode to exactly
// `raw_size` bytes within the memory limit. Errors are DeltaErrc::kCorrupt (or kIo).
class XzReader {
 public:
  XzReader(int fd, std::uint64_t offset, std::uint64_t compressed_size, std::uint64_t raw_size,
           std::uint64_t memlimit, std::string name);
  ~XzReader();
  XzReader(const XzReader&) = delete;
  XzReader& operator=(const XzReader&) = delete;

  // Fills `out` completely, or fails (a read past raw_size is corruption).
  Status Read(std::span<std::uint8_t> out);
  // Checks that every byte was read and the xz stream ended exactly at its end.
  Status Finish();
  std::uint64_t remaining() const { return raw_size_ - produced_; }

 private:
  Status Fill();

  int fd_;
  std::uint64_t next_in_offset_, end_offset_, raw_size_, produced_ = 0;
  std::string name_;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  bool init_ok_ = false;
  bool ended_ = false;
  std::vector<std::uint8_t> in_buf_;
};

}  // namespace ferry::delta
