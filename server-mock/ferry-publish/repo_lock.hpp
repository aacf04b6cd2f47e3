// The repository lock of ferry-publish: an flock on DIR/.ferry-publish.lock (rules in
// docs/repository.md, "Concurrency"). Writers of metadata and gc hold it exclusively for the few
// seconds their step takes; readers hold it shared while they load the metadata, and a release
// holds it shared for the instant it records a blob it is about to store. The slow part of a
// release (importing, compressing, encoding deltas) holds no lock.
#pragma once

#include <chrono>
#include <filesystem>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::publish {

enum class LockMode { kShared, kExclusive };

// How long a command waits for a lock another ferry-publish holds in a conflicting mode.
inline constexpr std::chrono::seconds kLockWait{60};

// Takes the lock of the repository `dir` in `mode` and returns the descriptor that holds it
// (closing it releases the lock). While another ferry-publish holds the lock in a conflicting
// mode it waits, saying so once on stderr; after `wait` it fails with kUnavailable. Fails with
// kIo when the lock file cannot be opened.
Result<UniqueFd> LockRepository(const std::filesystem::path& dir, LockMode mode,
                                std::chrono::milliseconds wait = kLockWait);

}  // namespace ferry::publish
