// Error codes of the layer store (ferry::layers). Every refusal of a hostile or malformed layer has
// its own code, so callers and tests can branch on why a layer was refused; the message names the
// entry (its path inside the layer) and the reason.
#pragma once

#include <system_error>
#include <type_traits>

namespace ferry::layers {

enum class LayersErrc {
  kMalformedArchive = 1,  // libarchive could not read the tar stream
  kUnsafePath,            // absolute path, `..` component, or an empty name
  kNulInName,             // a NUL byte inside a name (pax records, link targets)
  kNameTooLong,           // a path component longer than the policy allows (255)
  kPathTooLong,           // a whole path longer than the policy allows (4096)
  kPathTooDeep,           // more components than the policy allows
  kSymlinkInPath,         // a parent of the entry is a symlink or not a directory
  kTypeConflict,          // the entry would replace a non-empty directory
  kBadHardlink,           // hardlink target missing, outside, a symlink or not a regular file
  kDeviceNode,            // a character or block device not on the policy's allow-list
  kSpecialFile,           // a FIFO or socket the policy refuses
  kSetIdBits,             // setuid/setgid bits under a policy that refuses them
  kForbiddenXattr,        // trusted.overlay.* or an xattr refused by the policy
  kBadWhiteout,           // an OCI whiteout aimed at `.`/`..`, or `.wh.` inside a parent name
  kTooManyEntries,        // more entries than the policy allows
  kFileTooLarge,          // one file's logical size (sparse files included) over the limit
  kLayerTooLarge,         // the tar stream or the sum of file sizes over the limit
  kBadDiffId,             // a diff_id that is not "sha256:" + 64 lowercase hex digits
  kDigestMismatch,        // the tar's sha256 differs from the expected diff_id
  kDestinationNotEmpty,   // ExtractLayer was given a root that already holds entries
};

const std::error_category& LayersCategory() noexcept;
std::error_code make_error_code(LayersErrc e) noexcept;  // NOLINT(readability-identifier-naming)

}  // namespace ferry::layers

template <>
struct std::is_error_code_enum<ferry::layers::LayersErrc> : std::true_type {};
