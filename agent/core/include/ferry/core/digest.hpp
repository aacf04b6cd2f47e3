// sha256 digests in the form Ferry uses everywhere: "sha256:<64 lowercase hex>".
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "ferry/core/result.hpp"

namespace ferry {

// A digest Ferry has checked: "sha256:" followed by exactly 64 lowercase hex digits, the only form
// a blob, a layer's diff_id or a manifest is named by. Made only by Parse or FromHex, so its hex
// part is safe as one file name.
class Digest {
 public:
  static constexpr std::string_view kPrefix = "sha256:";

  // Fails with Errc::kInvalidArgument, quoting `text` (cut to 100 characters), when it is not
  // "sha256:" followed by exactly 64 lowercase hex digits.
  static Result<Digest> Parse(std::string_view text);
  // The same for the 64 hex digits alone, e.g. the name of a blob's file.
  static Result<Digest> FromHex(std::string_view hex);

  const std::string& str() const { return text_; }
  std::string_view hex() const { return std::string_view(text_).substr(kPrefix.size()); }

  friend bool operator==(const Digest&, const Digest&) = default;

 private:
  explicit Digest(std::string text) : text_(std::move(text)) {}

  std::string text_;
};

std::string Sha256Digest(std::string_view bytes);

// Spells a finished sha256 hash (the raw bytes from the hash function) as a Ferry digest.
std::string FormatSha256Digest(std::span<const unsigned char> hash);

// Returns true when the caller wants the work in progress to stop (ferryd is shutting down). Must
// be cheap and thread-safe; an empty function never stops.
using StopRequested = std::function<bool()>;

// Hashes a file as it is read, in bounded memory. Fails with an errno error when it cannot be
// read, and with Errc::kCancelled ("ferryd is stopping") when `stop` turns true (checked every
// 128 KiB).
Result<std::string> Sha256FileDigest(const std::filesystem::path& path,
                                     const StopRequested& stop = {});

// Checks that the file at `path` is exactly `size` bytes with sha256 `digest`; Errc::kCorrupt names
// the file and what differs otherwise, Errc::kCancelled when `stop` turns true while hashing.
Status VerifyFile(const std::filesystem::path& path, std::string_view digest, std::uint64_t size,
                  const StopRequested& stop = {});

}  // namespace ferry
