#include "ferry/trust/file_metadata_store.hpp"

#include <charconv>

#include "ferry/core/fs.hpp"
#include "ferry/trust/error.hpp"
#include "ferry/trust/metadata.hpp"

namespace ferry::trust {

namespace stdfs = std::filesystem;

stdfs::path FileMetadataStore::PathOf(std::string_view role) const {
  return dir_ / (QuoteComponent(role) + ".json");
}

Result<std::optional<std::string>> FileMetadataStore::Load(std::string_view role) {
  const auto path = PathOf(role);
  std::error_code ec;
  if (!stdfs::exists(path, ec)) {
    if (ec) {
      return Fail(SystemError("stat " + path.string(), ec));
    }
    return std::optional<std::string>();
  }
  auto bytes = fs::ReadFile(path, max_file_bytes_);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  return std::optional<std::string>(std::move(*bytes));
}

Status FileMetadataStore::Save(std::string_view role, std::string_view bytes,
                               std::uint64_t /*version*/,
                               std::chrono::system_clock::time_point /*expires*/) {
  // The version and expiry are inside the bytes; files keep nothing beside them.
  FERRY_TRY_STATUS(fs::MakeDirs(dir_), "creating " + dir_.string());
  return fs::WriteFileAtomic(PathOf(role), bytes);
}

Status FileMetadataStore::Remove(std::string_view role) {
  const auto path = PathOf(role);
  std::error_code ec;
  if (!stdfs::remove(path, ec) && ec) {
    return Fail(SystemError("remove " + path.string(), ec));
  }
  if (!ec) {
    std::error_code exists_ec;
    if (stdfs::exists(dir_, exists_ec)) {
      return fs::SyncPath(dir_);
    }
  }
  return Ok();
}

Result<std::chrono::system_clock::time_point> FileMetadataStore::TimeFloor() {
  const auto path = dir_ / "time-floor";
  std::error_code ec;
  if (!stdfs::exists(path, ec)) {
    return std::chrono::system_clock::time_point{};
  }
  auto text = fs::ReadFile(path, 64);
  if (!text) {
    return std::unexpected(text.error());
  }
  std::int64_t seconds = 0;
  const auto [ptr, parse_ec] = std::from_chars(text->data(), text->data() + text->size(), seconds);
  if (parse_ec != std::errc() || seconds < 0) {
    return Fail(Errc::kCorrupt, path.string() + ": not a time");
  }
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

Status FileMetadataStore::RaiseTimeFloor(std::chrono::system_clock::time_point t) {
  auto current = TimeFloor();
  if (!current) {
    return std::unexpected(current.error());
  }
  if (t <= *current) {
    return Ok();
  }
  FERRY_TRY_STATUS(fs::MakeDirs(dir_), "creating " + dir_.string());
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
  return fs::WriteFileAtomic(dir_ / "time-floor", std::to_string(seconds.count()) + "\n");
}

}  // namespace ferry::trust
