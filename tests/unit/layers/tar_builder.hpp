// Crafting tar layers for tests with libarchive's write API, so a test can make any header,
// including ones GNU tar refuses to make (absolute paths, `..`, devices, overlay xattrs).
#pragma once

#include <archive_entry.h>

#include <cstdint>
#include <functional>
#include <string>

namespace ferry::layers::testing {

enum class TarFormat { kPax, kGnu, kUstar };

class TarBuilder {
 public:
  explicit TarBuilder(TarFormat format = TarFormat::kPax);
  ~TarBuilder();
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;

  TarBuilder& Dir(const std::string& path, unsigned mode = 0755);
  TarBuilder& File(const std::string& path, const std::string& content, unsigned mode = 0644);
  TarBuilder& Symlink(const std::string& path, const std::string& target);
  TarBuilder& Hardlink(const std::string& path, const std::string& target);
  TarBuilder& Node(const std::string& path, unsigned type, unsigned major, unsigned minor);
  // Any header: `setup` fills the entry (path, type and mode already set to a 0644 file).
  TarBuilder& Entry(const std::string& path, const std::function<void(archive_entry*)>& setup,
                    const std::string& data = {});

  // Ends the archive (end-of-archive blocks) and returns every byte written.
  std::string Finish();

  static constexpr std::int64_t kMtime = 1'600'000'000;

 private:
  struct archive* archive_;
  std::string out_;
};

// A raw 512-byte ustar header with a name and link name copied byte for byte (NULs included).
std::string RawUstarHeader(const std::string& name, char type, std::uint64_t size,
                           const std::string& link = {});
// A pax extended header ('x') carrying raw records (each "key=value"), NULs allowed in values.
std::string RawPaxHeader(const std::string& records);
// Pads `data` to a whole number of 512-byte blocks.
std::string Pad512(std::string data);
// Two zero blocks.
std::string EndOfArchive();

}  // namespace ferry::layers::testing
