#include "ferry/engine/layout.hpp"

namespace ferry::engine {
namespace {

std::string_view Hex(std::string_view digest) {
  const auto colon = digest.find(':');
  return colon == std::string_view::npos ? digest : digest.substr(colon + 1);
}

}  // namespace

std::string RevisionId(std::string_view version, std::string_view manifest_digest) {
  std::string id;
  for (char c : version) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    id.push_back(ok ? c : '_');
  }
  return id + "-" + std::string(Hex(manifest_digest).substr(0, 12));
}

std::string ContainerId(std::string_view app, std::string_view revision) {
  return "ferry." + std::string(app) + "." + std::string(revision);
}

}  // namespace ferry::engine
