// File operations that follow Ferry's durability rules (docs/testing.md §1): a new file is written
// to a temp file in the same directory, fsynced, renamed into place, and the directory fsynced.
// A failed fsync fails the step; it is never retried and ignored.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry::fs {

namespace stdfs = std::filesystem;

// Writes `data` to `path` atomically and durably, with the given mode.
Status WriteFileAtomic(const stdfs::path& path, std::string_view data, unsigned mode = 0644);

// The same for content too large to hold at once: `produce` is called once and hands the data to
// the writer it is given, piece by piece. An error of `produce` or of a write stops and is
// returned; the temp file is removed and `path` is left as it was.
using ChunkWriter = std::function<Status(std::string_view)>;
Status WriteFileAtomicFrom(const stdfs::path& path,
                           const std::function<Status(const ChunkWriter&)>& produce,
                           unsigned mode = 0644);

// Reads a whole file, refusing files larger than `max_bytes`.
Result<std::string> ReadFile(const stdfs::path& path, std::size_t max_bytes = 64u << 20);

// fsync of a file or directory by path.
Status SyncPath(const stdfs::path& path);

// fsync of the directory that contains `path`.
Status SyncParent(const stdfs::path& path);

// Creates `dir` and missing parents with `mode` and fsyncs each new directory's parent.
Status MakeDirs(const stdfs::path& dir, unsigned mode = 0755);

// Points the symlink `link` at `target` atomically: link.tmp, fsync dir, rename, fsync dir.
Status ReplaceSymlink(const stdfs::path& link, const stdfs::path& target);

// rename(2) followed by an fsync of both parent directories.
Status RenameDurable(const stdfs::path& from, const stdfs::path& to);

// Whether `name` is one of the temp names the functions above create: "<name>.tmp" (symlinks)
// and "<name>.tmp.<pid>.<n>" (files). A crash between create and rename leaves them behind.
bool IsTempName(std::string_view name);

// Removes the files and symlinks directly in `dir` whose names are temp names (never a
// directory, never recursively), and fsyncs `dir` when it removed any. Returns how many; a
// missing `dir` has none.
Result<std::size_t> RemoveTempFiles(const stdfs::path& dir);

}  // namespace ferry::fs
