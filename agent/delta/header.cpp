#include "header.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace ferry::delta {

Sha256 Sha256Of(const void* data, std::size_t len) {
  Sha256 out{};
  unsigned int out_len = 0;
  EVP_Digest(data, len, out.data(), &out_len, EVP_sha256(), nullptr);
  return out;
}

std::string EncodeHeader(const FullHeader& header) {
  std::string out(format::kMagic, sizeof(format::kMagic));
  format::PutLe(out, header.version, 4);
  format::PutLe(out, format::kStreamCount, 4);
  format::PutLe(out, header.info.new_size, 8);
  out.append(reinterpret_cast<const char*>(header.info.new_sha256.data()), 32);
  out.append(reinterpret_cast<const char*>(header.info.old_sha256.data()), 32);
  for (const StreamExtent& s : header.streams) {
    format::PutLe(out, s.compressed_size, 8);
    format::PutLe(out, s.raw_size, 8);
  }
  Sha256 check = Sha256Of(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(check.data()), 32);
  return out;
}

Result<FullHeader> DecodeHeader(const std::uint8_t* bytes, std::size_t len,
                                std::uint64_t file_size) {
  if (len < format::kHeaderSize) {
    return Fail(DeltaErrc::kCorrupt, "delta is shorter than its header");
  }
  if (std::memcmp(bytes, format::kMagic, sizeof(format::kMagic)) != 0) {
    return Fail(DeltaErrc::kCorrupt, "not a Ferry delta (bad magic)");
  }
  Sha256 check = Sha256Of(bytes, format::kHeaderBodySize);
  if (std::memcmp(check.data(), bytes + format::kHeaderBodySize, 32) != 0) {
    return Fail(DeltaErrc::kCorrupt, "delta header checksum mismatch");
  }
  std::uint64_t version = format::GetLe(bytes + 8, 4);
  if (version < format::kVersion || version > format::kMaxVersion) {
    return Fail(DeltaErrc::kUnsupported, "delta format version " + std::to_string(version));
  }
  if (format::GetLe(bytes + 12, 4) != format::kStreamCount) {
    return Fail(DeltaErrc::kCorrupt, "delta stream count is not 4");
  }
  FullHeader header;
  header.version = static_cast<std::uint32_t>(version);
  header.info.new_size = format::GetLe(bytes + 16, 8);
  std::memcpy(header.info.new_sha256.data(), bytes + 24, 32);
  std::memcpy(header.info.old_sha256.data(), bytes + 56, 32);
  std::uint64_t total = format::kHeaderSize;
  for (std::size_t i = 0; i < format::kStreamCount; ++i) {
    const std::uint8_t* p = bytes + 88 + i * 16;
    header.streams[i] = {format::GetLe(p, 8), format::GetLe(p + 8, 8)};
    if (header.streams[i].compressed_size > file_size ||
        total + header.streams[i].compressed_size > file_size) {
      return Fail(DeltaErrc::kCorrupt, "delta stream " + std::to_string(i) + " exceeds the file");
    }
    total += header.streams[i].compressed_size;
  }
  if (total != file_size) {
    return Fail(DeltaErrc::kCorrupt, "delta file size does not match its stream table");
  }
  return header;
}

}  // namespace ferry::delta
