// The fixed-size header of a delta file: encoding and checked decoding.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "ferry/delta/delta.hpp"
#include "format.hpp"

namespace ferry::delta {

struct StreamExtent {
  std::uint64_t compressed_size = 0;
  std::uint64_t raw_size = 0;
};

struct FullHeader {
  std::uint32_t version = format::kVersion;
  DeltaHeader info;
  std::array<StreamExtent, format::kStreamCount> streams{};
};

std::string EncodeHeader(const FullHeader& header);

// Parses and checks a header read from the start of a delta file of `file_size` bytes.
Result<FullHeader> DecodeHeader(const std::uint8_t* bytes, std::size_t len,
                                std::uint64_t file_size);

Sha256 Sha256Of(const void* data, std::size_t len);

}  // namespace ferry::delta
