// Builds tar archives in memory for delta tests, through libarchive (GNU or pax format).
#pragma once

#include <map>
#include <string>

struct archive;

namespace ferry::testing {

class TarBuilder {
 public:
  enum class Format { kGnu, kPax };
  explicit TarBuilder(Format format);
  ~TarBuilder();
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;

  TarBuilder& File(const std::string& path, const std::string& content, unsigned mode = 0644,
                   const std::map<std::string, std::string>& xattrs = {});
  TarBuilder& Dir(const std::string& path);
  TarBuilder& Symlink(const std::string& path, const std::string& target);
  TarBuilder& Hardlink(const std::string& path, const std::string& target);
  // Closes the archive and returns its bytes.
  std::string Finish();

 private:
  ::archive* archive_;
  std::string out_;
};

// Deterministic pseudo-random text of `lines` lines, like a changelog.
std::string Prose(std::size_t lines, unsigned seed);

// Deterministic pseudo-random bytes.
std::string RandomBytes(std::size_t n, unsigned seed);

}  // namespace ferry::testing
