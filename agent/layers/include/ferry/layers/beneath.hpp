// Acting inside a tree Ferry owns (an unpacked layer, a revision's root filesystem) without ever
// leaving it, whatever the tree holds. Paths are resolved beneath a directory fd of the tree's
// root and never through a symlink: with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS) where the kernel has it, with an O_NOFOLLOW openat walk, one component
// at a time, otherwise. Callers then act with *at() calls on the directory fd they got, on a
// name that is never a path. The extractor (layers) and the revision assembly (engine) share this;
// nothing else touches those trees by path.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/errors.hpp"

namespace ferry::layers {

// An fd of the directory made of `components` beneath the directory `root_fd` (a dup of
// `root_fd` when `components` is empty). With `create`, missing directories are made (mode
// 0755). Fails with kSymlinkInPath when a component is a symlink or not a directory, with
// kNotFound (core) when one is missing and `create` is not set; messages name `entry`.
Result<UniqueFd> OpenDirBeneath(int root_fd, std::span<const std::string> components, bool create,
                                std::string_view entry);

// The names in the directory `dir_fd` ("." and ".." left out), at most `limit` of them. `shown`
// names it in errors. A caller that removes what it lists calls it again until it gets none, so a
// directory of a million entries never has all its names in memory at once.
Result<std::vector<std::string>> ListNames(int dir_fd, std::string_view shown,
                                           std::size_t limit = SIZE_MAX);

// Calls `visit` with each name in the directory `dir_fd` ("." and ".." left out), reading the
// directory as it goes; stops at the first error, which it returns. `visit` must not add or remove
// entries of that directory. `shown` names it in errors.
Status ForEachName(int dir_fd, std::string_view shown,
                   const std::function<Status(const std::string&)>& visit);

// Removes `name` in the directory `parent_fd`, and everything below it when it is a directory,
// never following a symlink. A directory without write or search permission is opened up first: it
// is inside the tree being removed. A missing `name` is not an error.
Status RemoveAt(int parent_fd, const std::string& name, const std::string& shown);

// Whether openat2(2) with RESOLVE_BENEATH works on this kernel (probed once).
bool HaveOpenat2();

// Forces the component-by-component walk, as on kernels without openat2 (tests).
void DisableOpenat2ForTesting(bool disabled);

}  // namespace ferry::layers
