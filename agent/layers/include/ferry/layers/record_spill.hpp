// A list of records (byte strings) appended in order and read back in order, holding only a
// bounded amount in memory. Past kInMemoryBytes the records wait in an unnamed temporary file
// (O_TMPFILE) made in a directory of the caller's, so a layer of a million directories or
// whiteouts costs disk, not memory, when it is staged and when a revision's root is assembled from
// it; where the filesystem has no O_TMPFILE they stay in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::layers {

class RecordSpill {
 public:
  static constexpr std::size_t kInMemoryBytes = 256u << 10;

  // The temporary file is made in `dir_fd` (borrowed: it must stay open while records are
  // appended; -1 keeps every record in memory). `what` names the list in errors ("the list of
  // directories").
  RecordSpill(int dir_fd, std::string what) : dir_fd_(dir_fd), what_(std::move(what)) {}

  // Fails only when writing the temporary file fails.
  Status Append(std::string_view record);

  // Calls `visit` with each record in the order appended and stops at the first error (the
  // visitor's, or reading the temporary file), which it returns. May be called again; not while
  // records are appended.
  Status ForEach(const std::function<Status(std::string_view)>& visit) const;

  std::uint64_t size() const { return count_; }

  // Drops every record and the temporary file.
  void Clear();

 private:
  Status Flush();

  int dir_fd_;
  std::string what_;
  std::string buffer_;  // records not yet written to the file, each as a 4-byte length and bytes
  UniqueFd file_;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t count_ = 0;
  bool file_unavailable_ = false;
};

}  // namespace ferry::layers
