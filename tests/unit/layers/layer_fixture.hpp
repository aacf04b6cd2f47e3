// A test fixture with an extraction root and, beside it, a sentinel file and a sentinel directory
// that no layer may touch; Snapshot() records everything outside the root, ctime included, so a
// chmod or chown that was undone still shows.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "ferry/layers/extract.hpp"
#include "support/temp_dir.hpp"

namespace ferry::layers::testing {

struct NodeState {
  unsigned mode = 0;
  unsigned uid = 0;
  unsigned gid = 0;
  long long mtime_ns = 0;
  long long ctime_ns = 0;
  std::string content;  // file content or symlink target
  bool operator==(const NodeState&) const = default;
};
using Snapshot = std::map<std::string, NodeState>;
void PrintTo(const NodeState& n, std::ostream* os);

class LayerTest : public ::testing::Test {
 public:
  void SetUp() override;

  // Everything below the temp dir except the extraction root.
  Snapshot TakeSnapshot() const;
  Result<ExtractResult> Extract(const std::string& tar, const ExtractPolicy& policy);
  Result<ExtractResult> Extract(const std::string& tar) { return Extract(tar, DefaultPolicy()); }
  static ExtractPolicy DefaultPolicy();

  std::filesystem::path root() const { return tmp_ / "root"; }
  std::filesystem::path outside() const { return tmp_ / "outside"; }
  std::string AbsOutside() const { return outside().string(); }

  ferry::testing::TempDir tmp_;
};

std::span<const std::byte> Bytes(const std::string& s);
std::string ReadAll(const std::filesystem::path& path);
std::string Sha256Hex(const std::string& data);

}  // namespace ferry::layers::testing
