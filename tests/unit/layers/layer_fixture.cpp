#include "layer_fixture.hpp"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "ferry/core/fs.hpp"

namespace ferry::layers::testing {
namespace fs = std::filesystem;

std::span<const std::byte> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

void PrintTo(const NodeState& n, std::ostream* os) {
  *os << "{mode " << std::oct << n.mode << std::dec << ", uid " << n.uid << ", gid " << n.gid
      << ", mtime " << n.mtime_ns << ", ctime " << n.ctime_ns << ", content \"" << n.content
      << "\"}";
}

void LayerTest::SetUp() {
  ASSERT_TRUE(fs::create_directory(root()));
  ASSERT_TRUE(fs::create_directory(outside()));
  ASSERT_TRUE(ferry::fs::WriteFileAtomic(outside() / "sentinel", "do not touch", 0640).has_value());
  ASSERT_TRUE(fs::create_directory(outside() / "sentineldir"));
  ASSERT_EQ(::chmod((outside() / "sentineldir").c_str(), 0750), 0);
  const timespec old_times[2] = {{1'000'000, 0}, {1'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (outside() / "sentinel").c_str(), old_times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (outside() / "sentineldir").c_str(), old_times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, outside().c_str(), old_times, 0), 0);
}

Snapshot LayerTest::TakeSnapshot() const {
  Snapshot snap;
  auto add = [&](const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      return;
    }
    NodeState n;
    n.mode = st.st_mode;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
    n.ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      n.content = ReadAll(p);
    } else if (S_ISLNK(st.st_mode)) {
      n.content = fs::read_symlink(p).string();
    }
    snap[p.string()] = n;
  };
  add(tmp_.path());
  for (auto it = fs::recursive_directory_iterator(tmp_.path()); it != fs::end(it); ++it) {
    if (it->path() == root()) {
      it.disable_recursion_pending();
      continue;
    }
    add(it->path());
  }
  return snap;
}

ExtractPolicy LayerTest::DefaultPolicy() { return ExtractPolicy::ForCurrentProcess(); }

Result<ExtractResult> LayerTest::Extract(const std::string& tar, const ExtractPolicy& policy) {
  MemorySource source(Bytes(tar), 4096);
  return ExtractLayer(source, root(), policy);
}

}  // namespace ferry::layers::testing
