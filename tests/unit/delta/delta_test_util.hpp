// Helpers shared by the delta tests: files, tar extraction, applying to memory, and taking a
// delta apart into its raw streams and putting it back together (to corrupt single fields).
#pragma once

#include <array>
#include <filesystem>
#include <string>

#include "agent/delta/format.hpp"
#include "agent/delta/header.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::testing {

void WriteString(const std::filesystem::path& path, const std::string& data);
std::string ReadString(const std::filesystem::path& path);

// Unpacks `tar` into `dir` with GNU tar, as a device keeps layers.
void ExtractTar(const std::filesystem::path& tar, const std::filesystem::path& dir);

// ApplyDelta into a string.
Result<std::string> ApplyToString(const std::filesystem::path& old_dir,
                                  const std::filesystem::path& delta);

struct RawDelta {
  delta::FullHeader header;
  std::array<std::string, delta::format::kStreamCount> streams;
};
RawDelta UnpackDelta(const std::string& file);
// Recompresses the streams and rewrites the header's stream table and checksum.
std::string PackDelta(const RawDelta& raw);

}  // namespace ferry::testing
