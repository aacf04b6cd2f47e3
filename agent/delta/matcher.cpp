#include "matcher.hpp"

#include <cctype>
#include <functional>

namespace ferry::delta {

std::string RenameKey(std::string_view path) {
  std::string key;
  bool in_digits = false;
  for (char c : path) {
    if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
      if (!in_digits) {
        key.push_back('#');
      }
      in_digits = true;
    } else {
      key.push_back(c);
      in_digits = false;
    }
  }
  return key;
}

Matcher::Matcher(const OldLayer& old) : old_(old) {
  for (const auto& entry : old.files) {
    by_hash_[entry.second.hash].push_back(&entry);
    by_key_[RenameKey(entry.first)].push_back(&entry);
  }
}

Matcher::Match Matcher::Find(const std::string& new_path, std::string_view new_content) const {
  if (auto it = old_.files.find(new_path); it != old_.files.end()) {
    return {&it->first, &it->second, false};
  }
  if (auto it = by_hash_.find(std::hash<std::string_view>{}(new_content)); it != by_hash_.end()) {
    for (Entry entry : it->second) {
      if (entry->second.size == new_content.size()) {
        return {&entry->first, &entry->second, true};
      }
    }
  }
  auto it = by_key_.find(RenameKey(new_path));
  if (it == by_key_.end()) {
    return {};
  }
  Entry best = nullptr;
  std::uint64_t best_gap = 0;
  for (Entry entry : it->second) {
    std::uint64_t a = entry->second.size, b = new_content.size();
    std::uint64_t gap = a > b ? a - b : b - a;
    if (best == nullptr || gap < best_gap) {
      best = entry;
      best_gap = gap;
    }
  }
  return {&best->first, &best->second, true};
}

}  // namespace ferry::delta
