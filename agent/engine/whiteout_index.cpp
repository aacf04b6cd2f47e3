#include "whiteout_index.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <span>

#include "ferry/core/digest.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/byte_source.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

constexpr std::string_view kOpaqueName = ".wh..wh..opq";
constexpr char kRemovedKind = '-';
constexpr char kOpaqueKind = 'o';

// Far past any path staging lets in (ExtractPolicy::max_path_length): the bound only keeps a
// damaged list from growing one entry without end.
constexpr std::size_t kMaxEntryBytes = 1u << 20;

}  // namespace

Status ForEachWhiteoutEntry(const stdfs::path& list_file,
                            const std::function<Status(std::string_view)>& visit,
                            std::size_t chunk_size) {
  UniqueFd fd(::open(list_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return Ok();
    }
    return Fail(ErrnoError("open " + list_file.string()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail(ErrnoError("stat " + list_file.string()));
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxWhiteoutListBytes) {
    return Fail(Errc::kLimitExceeded, list_file.string() + " is larger than " +
                                          std::to_string(kMaxWhiteoutListBytes) + " bytes");
  }
  layers::FdSource source(fd.get(), chunk_size);
  std::string partial;  // an entry cut by the end of a chunk
  std::uint64_t total = 0;
  for (;;) {
    auto chunk = source.Next();
    if (!chunk) {
      return Fail(std::move(chunk.error()).WithContext("read " + list_file.string()));
    }
    if (chunk->empty()) {
      break;
    }
    total += chunk->size();
    if (total > kMaxWhiteoutListBytes) {
      return Fail(Errc::kLimitExceeded, list_file.string() + " is larger than " +
                                            std::to_string(kMaxWhiteoutListBytes) + " bytes");
    }
    const std::string_view bytes(reinterpret_cast<const char*>(chunk->data()), chunk->size());
    std::size_t start = 0;
    while (start < bytes.size()) {
      const std::size_t end = bytes.find('\0', start);
      if (end == std::string_view::npos) {
        if (partial.size() + bytes.size() - start > kMaxEntryBytes) {
          return Fail(Errc::kCorrupt, list_file.string() + " holds an entry over " +
                                          std::to_string(kMaxEntryBytes) + " bytes");
        }
        partial.append(bytes.substr(start));
        break;
      }
      std::string_view entry = bytes.substr(start, end - start);
      if (!partial.empty()) {
        partial.append(entry);
        entry = partial;
      }
      if (!entry.empty()) {
        if (auto visited = visit(entry); !visited) {
          return visited;
        }
      }
      partial.clear();
      start = end + 1;
    }
  }
  if (!partial.empty()) {
    return visit(partial);
  }
  return Ok();
}

WhiteoutIndex::WhiteoutIndex() : salt_(16, '\0') {}

// Why digests: the set of paths of a layer of a million whiteouts costs over 100 MiB (the strings
// and a tree node each), and a release may stack several such layers. A sorted vector of 64-bit
// digests costs 8 bytes a whiteout (8 MiB for the million staging allows a layer) and answers by
// binary search. A digest can collide, and a collision here would make a path look hidden, so
// that CheckLayerStack let a symlink replace a visible directory. So the digest is SHA-256, never
// a hash an attacker could steer, and it is keyed by 16 random bytes drawn for each index: 64 bits
// alone would fall to a birthday search over paths the attacker chooses on both sides (2^32
// tries), but without the key nothing can be searched, and the chance that any lookup collides
// by accident is below (whiteouts x lookups) / 2^64.
std::uint64_t WhiteoutIndex::Key(char kind, std::string_view path) const {
  std::string input;
  input.reserve(salt_.size() + 1 + path.size());
  input += salt_;
  input += kind;
  input += path;
  const std::string digest = Sha256Digest(input);  // "sha256:<hex>"
  std::uint64_t key = 0;
  for (std::size_t i = 7; i < 7 + 16; ++i) {
    const char c = digest[i];
    key = (key << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return key;
}

bool WhiteoutIndex::Contains(char kind, std::string_view path) const {
  return std::binary_search(keys_.begin(), keys_.end(), Key(kind, path));
}

Result<WhiteoutIndex> WhiteoutIndex::Read(const stdfs::path& list_file, std::size_t chunk_size) {
  WhiteoutIndex index;
  std::size_t filled = 0;
  while (filled < index.salt_.size()) {
    const ssize_t n = ::getrandom(index.salt_.data() + filled, index.salt_.size() - filled, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Fail(ErrnoError("getrandom"));
    }
    filled += static_cast<std::size_t>(n);
  }
  // Counted first, so that the vector is allocated once at its size rather than doubled up to it
  // (which would hold the old and the new array at once).
  std::size_t entries = 0;
  if (auto st = ForEachWhiteoutEntry(
          list_file,
          [&](std::string_view) -> Status {
            ++entries;
            return Ok();
          },
          chunk_size);
      !st) {
    return Fail(std::move(st.error()));
  }
  index.keys_.reserve(entries);
  if (auto st = ForEachWhiteoutEntry(
          list_file,
          [&](std::string_view entry) -> Status {
            if (entry == kOpaqueName) {
              index.keys_.push_back(index.Key(kOpaqueKind, ""));
            } else if (entry.size() > kOpaqueName.size() + 1 && entry.ends_with(kOpaqueName) &&
                       entry[entry.size() - kOpaqueName.size() - 1] == '/') {
              index.keys_.push_back(
                  index.Key(kOpaqueKind, entry.substr(0, entry.size() - kOpaqueName.size() - 1)));
            } else {
              index.keys_.push_back(index.Key(kRemovedKind, entry));
            }
            return Ok();
          },
          chunk_size);
      !st) {
    return Fail(std::move(st.error()));
  }
  std::sort(index.keys_.begin(), index.keys_.end());
  index.keys_.erase(std::unique(index.keys_.begin(), index.keys_.end()), index.keys_.end());
  return index;
}

bool WhiteoutIndex::Removed(std::string_view path) const { return Contains(kRemovedKind, path); }

bool WhiteoutIndex::Opaque(std::string_view dir) const { return Contains(kOpaqueKind, dir); }

bool WhiteoutIndex::Hides(const std::vector<std::string>& components) const {
  if (keys_.empty()) {
    return false;
  }
  std::string prefix;
  for (const auto& c : components) {
    if (Opaque(prefix)) {
      return true;
    }
    prefix += (prefix.empty() ? "" : "/") + c;
    if (Removed(prefix)) {
      return true;
    }
  }
  return false;
}

}  // namespace ferry::engine
