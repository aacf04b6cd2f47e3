#include "entry_path.hpp"

#include <cstdio>

namespace ferry::layers {

std::string QuotePath(std::string_view raw) {
  constexpr std::size_t kMaxShown = 200;
  std::string out = "\"";
  for (std::size_t i = 0; i < raw.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (raw.size() > kMaxShown) {
    out += "...(" + std::to_string(raw.size()) + " bytes)";
  }
  out += "\"";
  return out;
}

std::string EntryName(std::string_view path) { return "entry " + QuotePath(path); }

Error EntryErrno(std::string_view path, std::string_view what) {
  return ErrnoError(EntryName(path) + ": " + std::string(what));
}

Result<std::vector<std::string>> SplitEntryPath(std::string_view raw, const ExtractPolicy& policy,
                                                std::string_view what) {
  const std::string prefix = std::string(what) + " " + QuotePath(raw) + ": ";
  if (raw.find('\0') != std::string_view::npos) {
    return Fail(LayersErrc::kNulInName, prefix + "name contains a NUL byte");
  }
  if (raw.empty()) {
    return Fail(LayersErrc::kUnsafePath, prefix + "empty name");
  }
  if (raw.size() > policy.max_path_length) {
    return Fail(LayersErrc::kPathTooLong, prefix + "path is " + std::to_string(raw.size()) +
                                              " bytes, the limit is " +
                                              std::to_string(policy.max_path_length));
  }
  if (raw.front() == '/') {
    return Fail(LayersErrc::kUnsafePath, prefix + "absolute path");
  }
  std::vector<std::string> components;
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t end = raw.find('/', start);
    if (end == std::string_view::npos) {
      end = raw.size();
    }
    const std::string_view component = raw.substr(start, end - start);
    start = end + 1;
    if (component.empty() || component == ".") {
      continue;
    }
    if (component == "..") {
      return Fail(LayersErrc::kUnsafePath, prefix + "path has a \"..\" component");
    }
    if (component.size() > policy.max_name_length) {
      return Fail(LayersErrc::kNameTooLong,
                  prefix + "a name is " + std::to_string(component.size()) +
                      " bytes, the limit is " + std::to_string(policy.max_name_length));
    }
    if (components.size() >= policy.max_depth) {
      return Fail(LayersErrc::kPathTooDeep,
                  prefix + "more than " + std::to_string(policy.max_depth) + " path components");
    }
    components.emplace_back(component);
  }
  return components;
}

std::string JoinPath(const std::vector<std::string>& components, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count && i < components.size(); ++i) {
    if (i > 0) {
      out += '/';
    }
    out += components[i];
  }
  return out;
}

}  // namespace ferry::layers
