// Splits a tar into file contents and everything else (headers, long names, pax records,
// padding, end blocks), so that the delta can carry the latter verbatim.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::delta {

struct TarRegion {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool is_content = false;  // the data of a regular file entry
  std::string path;         // normalized entry name ("usr/bin/x") of a content region
};

struct TarScan {
  // Regions covering the tar from start to end without gaps, in order.
  std::vector<TarRegion> regions;
  // Hardlink entries: (normalized name, normalized target).
  std::vector<std::pair<std::string, std::string>> hardlinks;
};

// Never fails: bytes that do not parse as tar become one trailing non-content region.
TarScan ScanTar(std::string_view tar);

// "./usr/bin/x" and "/usr/bin/x" → "usr/bin/x"; trailing '/' removed.
std::string NormalizeTarPath(std::string_view name);

}  // namespace ferry::delta
