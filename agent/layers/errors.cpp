#include "ferry/layers/errors.hpp"

#include <string>

#include "ferry/core/error_category.hpp"

namespace ferry::layers {
namespace {

std::string Describe(LayersErrc e) {
  switch (e) {
    case LayersErrc::kMalformedArchive:
      return "malformed archive";
    case LayersErrc::kUnsafePath:
      return "unsafe path";
    case LayersErrc::kNulInName:
      return "NUL byte in name";
    case LayersErrc::kNameTooLong:
      return "name too long";
    case LayersErrc::kPathTooLong:
      return "path too long";
    case LayersErrc::kPathTooDeep:
      return "path too deep";
    case LayersErrc::kSymlinkInPath:
      return "symlink or non-directory in path";
    case LayersErrc::kTypeConflict:
      return "type conflict";
    case LayersErrc::kBadHardlink:
      return "bad hardlink";
    case LayersErrc::kDeviceNode:
      return "device node refused";
    case LayersErrc::kSpecialFile:
      return "special file refused";
    case LayersErrc::kSetIdBits:
      return "setuid/setgid bits refused";
    case LayersErrc::kForbiddenXattr:
      return "extended attribute refused";
    case LayersErrc::kBadWhiteout:
      return "bad whiteout";
    case LayersErrc::kTooManyEntries:
      return "too many entries";
    case LayersErrc::kFileTooLarge:
      return "file too large";
    case LayersErrc::kLayerTooLarge:
      return "layer too large";
    case LayersErrc::kBadDiffId:
      return "malformed diff_id";
    case LayersErrc::kDigestMismatch:
      return "digest mismatch";
    case LayersErrc::kDestinationNotEmpty:
      return "destination not empty";
  }
  return {};
}

}  // namespace

const std::error_category& LayersCategory() noexcept {
  static const EnumErrorCategory<LayersErrc> category("ferry.layers", Describe);
  return category;
}

std::error_code make_error_code(LayersErrc e) noexcept {
  return {static_cast<int>(e), LayersCategory()};
}

}  // namespace ferry::layers
