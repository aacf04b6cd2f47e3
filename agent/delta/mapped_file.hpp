// A read-only memory map of an input file (the encoder's tars), whose pages the encoder hands back
// once it is done with a range, so that its resident memory does not grow with the layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry::delta {

class MappedFile {
 public:
  // Maps the whole file; an empty file gives an empty view. Errors are DeltaErrc::kBadInput.
  static Result<MappedFile> Open(const std::filesystem::path& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::string_view view() const { return {data_, size_}; }
  // Drops the whole pages below `offset` from this process's resident set, for a reader going
  // front to back; the view stays valid (pages touched again are read back from the page cache).
  // Not thread-safe, but other threads may keep reading the view meanwhile.
  void ReleaseBelow(std::uint64_t offset);

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t released_ = 0;
};

}  // namespace ferry::delta
