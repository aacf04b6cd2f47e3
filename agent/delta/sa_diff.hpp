// Suffix-array differ (the bsdiff class): finds approximate matches of the new file in the old
// one through a suffix array (libdivsufsort) and describes the new file as control triples over
// a bytewise difference stream and an extra (literal) stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::delta {

struct SaControl {
  std::uint64_t add = 0;   // bytes of new = old[pos..] + diff[..]; then pos += add
  std::uint64_t copy = 0;  // bytes taken verbatim from the extra stream
  std::int64_t seek = 0;   // then pos += seek
};

struct SaPatch {
  std::vector<SaControl> controls;
  std::string diff;   // as many bytes as the sum of `add`
  std::string extra;  // as many bytes as the sum of `copy`
};

// The old file must be smaller than 2 GiB (32-bit suffix array). Every add range lies within
// `old`, so that an applier may read the old file in bounded windows.
SaPatch SaDiff(std::string_view old_data, std::string_view new_data);

// Applies a patch in memory; returns false when it does not fit `old_data` or the size.
bool SaApply(std::string_view old_data, const SaPatch& patch, std::string& out);

}  // namespace ferry::delta
