// A MetadataStore over plain files in one directory: `<quoted role>.json` holds the exact bytes
// received (root.json, timestamp.json, …), and `time-floor` the time floor in seconds since the
// epoch. Every write is atomic and durable (ferry::fs::WriteFileAtomic). Used by ferry-tuf-client.
#pragma once

#include <filesystem>

#include "ferry/trust/metadata_store.hpp"

namespace ferry::trust {

class FileMetadataStore final : public MetadataStore {
 public:
  explicit FileMetadataStore(std::filesystem::path dir, std::size_t max_file_bytes = 64u << 20)
      : dir_(std::move(dir)), max_file_bytes_(max_file_bytes) {}

  Result<std::optional<std::string>> Load(std::string_view role) override;
  Status Save(std::string_view role, std::string_view bytes, std::uint64_t version,
              std::chrono::system_clock::time_point expires) override;
  Status Remove(std::string_view role) override;
  Result<std::chrono::system_clock::time_point> TimeFloor() override;
  Status RaiseTimeFloor(std::chrono::system_clock::time_point t) override;

  // Path of the file holding `role`.
  std::filesystem::path PathOf(std::string_view role) const;

 private:
  std::filesystem::path dir_;
  std::size_t max_file_bytes_;
};

}  // namespace ferry::trust
