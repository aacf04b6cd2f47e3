// A layer's list of whiteouts (layers/<hex>.whiteouts: NUL-separated paths, `<dir>/.wh..wh..opq`
// for an opaque directory), read in chunks, and an index of it for lookups in bounded memory: a
// layer may hold a million whiteouts, and a release many layers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"

namespace ferry::engine {

// Lists over this many bytes are refused (Errc::kLimitExceeded): staging writes a million entries
// of paths far shorter than that on average.
inline constexpr std::uint64_t kMaxWhiteoutListBytes = 64u << 20;

// Calls `visit` with each non-empty entry of `list_file`, in order, reading `chunk_size` bytes at a
// time: memory is one chunk and one entry. An absent file has no entries. Fails with an errno
// error when the file cannot be read, Errc::kLimitExceeded when it is over kMaxWhiteoutListBytes,
// and with the first error `visit` returns.
Status ForEachWhiteoutEntry(const std::filesystem::path& list_file,
                            const std::function<Status(std::string_view)>& visit,
                            std::size_t chunk_size = 256 * 1024);

// Which paths a layer's whiteouts hide from lower layers. Holds 8 bytes a whiteout (see the .cpp
// for why a digest and not the paths), built in one pass over the list. Not thread-safe to build;
// lookups on a built index are const.
class WhiteoutIndex {
 public:
  // Reads `list_file` (absent: no whiteouts). Fails as ForEachWhiteoutEntry does.
  static Result<WhiteoutIndex> Read(const std::filesystem::path& list_file,
                                    std::size_t chunk_size = 256 * 1024);

  // Whether the layer removes `path` (a whiteout `.wh.<name>` at it).
  bool Removed(std::string_view path) const;
  // Whether the layer makes directory `dir` opaque ("" for the root).
  bool Opaque(std::string_view dir) const;
  // Whether the layer hides what lower layers have at `components`: a whiteout at the path or at
  // one of its parents, or an opaque directory above it.
  bool Hides(const std::vector<std::string>& components) const;

  // The number of distinct whiteouts held.
  std::size_t size() const { return keys_.size(); }

 private:
  WhiteoutIndex();
  std::uint64_t Key(char kind, std::string_view path) const;
  bool Contains(char kind, std::string_view path) const;

  std::string salt_;
  std::vector<std::uint64_t> keys_;  // sorted, unique
};

}  // namespace ferry::engine
