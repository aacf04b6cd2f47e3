// sha256 digests in the form Ferry uses everywhere: "sha256:<64 lowercase hex>".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry {

std::string Sha256Digest(std::string_view bytes);

// Hashes a file as it is read, in bounded memory. Fails with an errno error when it cannot be read.
Result<std::string> Sha256FileDigest(const std::filesystem::path& path);

// Checks that the file at `path` is exactly `size` bytes with sha256 `digest`; Errc::kCorrupt names
// the file and what differs otherwise.
Status VerifyFile(const std::filesystem::path& path, std::string_view digest, std::uint64_t size);

}  // namespace ferry
