// Chooses, for each file of the new layer, the old file to diff against: the same path, else a
// file with identical content, else a renamed file (same name once digit runs are ignored, e.g.
// libfoo.so.1.2.3 → libfoo.so.1.2.4), closest in size.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {

// "usr/lib/libfoo.so.1.2.3" → "usr/lib/libfoo.so.#.#.#"
std::string RenameKey(std::string_view path);

class Matcher {
 public:
  explicit Matcher(const OldLayer& old);

  struct Match {
    const std::string* path = nullptr;  // null: no old file fits
    const OldFile* file = nullptr;
    bool renamed = false;
  };
  // An old file with the same content hash and size counts as identical; the caller compares the
  // bytes. Thread-safe.
  Match Find(const std::string& new_path, std::string_view new_content) const;

 private:
  using Entry = const std::pair<const std::string, OldFile>*;
  const OldLayer& old_;
  std::unordered_map<std::uint64_t, std::vector<Entry>> by_hash_;
  std::unordered_map<std::string, std::vector<Entry>> by_key_;
};

}  // namespace ferry::delta
