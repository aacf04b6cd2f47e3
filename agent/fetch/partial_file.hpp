// The partial file of one blob download and the running sha256 of the bytes in it. Private to
// agent/fetch.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::fetch {

class PartialFile {
 public:
  // Opens (creating) `path`. When it holds more than `max_size` bytes it is emptied (a partial
  // file can never be longer than its blob). The bytes already there are read back and hashed, so
  // the hash always covers exactly what is on disk.
  static Result<PartialFile> Open(const std::filesystem::path& path, std::uint64_t max_size);

  PartialFile(PartialFile&& other) noexcept = default;
  PartialFile& operator=(PartialFile&&) = delete;

  std::uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Writes `data` at the end and adds it to the hash.
  Status Append(std::string_view data);
  // Empties the file and restarts the hash.
  Status Truncate();
  // "sha256:<hex>" of the bytes written so far.
  std::string Digest() const;
  // fsync of the file and of its directory.
  Status Sync();
  // Closes and deletes the file.
  Status Remove();

 private:
  PartialFile(std::filesystem::path path, UniqueFd fd);
  Status ResetHash();

  std::filesystem::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> hash_;
};

}  // namespace ferry::fetch
