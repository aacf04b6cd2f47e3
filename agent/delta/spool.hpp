// An unnamed temp file written front to back and read back afterwards: where the encoder keeps a
// stream of the delta that may be larger than it wants to hold in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::delta {

class Spool {
 public:
  // An unnamed file in `dir` (O_TMPFILE, else a named one removed at once); gone when closed.
  static Result<Spool> Create(const std::filesystem::path& dir);

  // Appends through a 1 MiB buffer. Errors are Errc::kIo.
  Status Append(std::string_view bytes);
  // Writes out the buffer; needed before ReadAt.
  Status Flush();
  std::uint64_t size() const { return size_; }
  // Reads exactly out.size() bytes at `offset` (of what was flushed).
  Status ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) const;

 private:
  // Writes all of `bytes` to the temp file.
  Status WriteAll(std::string_view bytes);
  UniqueFd fd_;
  std::string buf_;
  std::uint64_t size_ = 0;
};

}  // namespace ferry::delta
