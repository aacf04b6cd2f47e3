// A corrupt or hostile delta gives an error, never a crash, an out-of-bounds read, or output
// that passes for the new layer.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "agent/delta/format.hpp"
#include "agent/delta/xz.hpp"
#include "delta_test_util.hpp"
#include "ferry/delta/delta.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "tar_builder.hpp"

namespace ferry::testing {
namespace {

namespace format = delta::format;
using delta::DeltaErrc;

std::string Lines(int version) {
  std::string out;
  for (int i = 0; i < 200; ++i) {
    out += "entry " + std::to_string(i * version % 13) + " text\n";
  }
  return out;
}

// A small delta with every record type: literal, full, copy, suffix-array and zstd patches.
class Corruption : public ::testing::Test {
 protected:
  void SetUp() override { Build(false); }

  // Without zstd patches the changed files become suffix-array patches.
  void Build(bool zstd_patch) {
    std::string bin = RandomBytes(40000, 1);
    TarBuilder old_b(TarBuilder::Format::kGnu);
    old_b.File("a/bin", bin).File("a/text", Lines(1)).File("a/same", Lines(5));
    old_b.File("a/small", "0123456789abcdefghij0123456789");
    old_b.File("a/doc.gz", GzipOf(Prose(300, 1)));
    std::string old_tar = old_b.Finish();
    std::string bin2 = bin;
    bin2[100] = 'x';
    bin2.insert(20000, "inserted");
    TarBuilder new_b(TarBuilder::Format::kGnu);
    new_b.File("a/bin", bin2).File("a/text", Lines(2)).File("a/same", Lines(5));
    new_b.File("a/small", "0123456789abcdefghiX0123456789").File("a/new", RandomBytes(999, 2));
    new_b.File("a/doc.gz", GzipOf(Prose(3, 2) + Prose(300, 1)));
    new_tar_ = new_b.Finish();
    WriteString(tmp_ / "old.tar", old_tar);
    WriteString(tmp_ / "new.tar", new_tar_);
    ExtractTar(tmp_ / "old.tar", old_dir_);
    auto old = delta::LoadOldLayer(tmp_ / "old.tar");
    ASSERT_TRUE(old.has_value());
    delta::EncodeOptions options;
    options.zstd_patch = zstd_patch;
    auto stats = delta::EncodeDelta(*old, tmp_ / "new.tar", tmp_ / "good", options);
    ASSERT_TRUE(stats.has_value()) << stats.error().String();
    ASSERT_GE(stats->unchanged, 1u);
    ASSERT_GE(stats->full, 1u);
    ASSERT_EQ(stats->gzip, 1u);
    ASSERT_GE(zstd_patch ? stats->zstd_patch : stats->sa_patch, 2u);
    good_ = ReadString(tmp_ / "good");
    raw_ = UnpackDelta(good_);
  }

  // Applies `bytes` as a delta; a success must have produced exactly the new tar.
  Status Apply(const std::string& bytes) {
    WriteString(tmp_ / "bad", bytes);
    auto out = ApplyToString(old_dir_, tmp_ / "bad");
    if (out) {
      EXPECT_EQ(*out, new_tar_);
      return Ok();
    }
    return Fail(out.error());
  }

  std::string GzipOf(const std::string& content) {
    WriteString(tmp_ / "gz", content);
    RunResult r = ferry::testing::Run({"gzip", "-9nf", (tmp_ / "gz").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadString(tmp_ / "gz.gz");
  }

  // A delta whose command stream is `commands` and other streams as given.
  std::string Crafted(const std::string& commands, const std::string& meta = {},
                      const std::string& diff = {}, const std::string& data = {}) {
    RawDelta raw = raw_;
    raw.streams = {commands, meta, diff, data};
    return PackDelta(raw);
  }

  static std::string OldPath(const std::string& path, std::uint64_t size) {
    std::string out(1, static_cast<char>(format::kOldPath));
    format::PutVarint(out, size);
    format::PutVarint(out, path.size());
    return out + path;
  }

  TempDir tmp_;
  std::filesystem::path old_dir_ = tmp_ / "old";
  std::string new_tar_, good_;
  RawDelta raw_;
};

TEST_F(Corruption, RepackedGoodDeltaStillApplies) { EXPECT_TRUE(Apply(PackDelta(raw_))); }

TEST_F(Corruption, EveryHeaderByteFlipIsRejected) {
  for (std::size_t i = 0; i < format::kHeaderSize; ++i) {
    std::string bad = good_;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    Status st = Apply(bad);
    ASSERT_FALSE(st.has_value()) << "byte " << i;
    EXPECT_TRUE(st.error().Is(DeltaErrc::kCorrupt)) << st.error().String();
  }
}

TEST_F(Corruption, EveryTruncationIsRejected) {
  for (std::size_t len = 0; len < good_.size(); len += std::max<std::size_t>(1, len / 8)) {
    Status st = Apply(good_.substr(0, len));
    ASSERT_FALSE(st.has_value()) << "length " << len;
    EXPECT_TRUE(st.error().Is(DeltaErrc::kCorrupt)) << st.error().String();
  }
}

TEST_F(Corruption, EveryCommandByteChangeIsRejectedOrHarmless) {
  int rejected = 0;
  const std::string& cmd = raw_.streams[format::kCommands];
  for (std::size_t i = 0; i < cmd.size(); ++i) {
    for (int change : {1, 0x80, 0xff}) {
      RawDelta raw = raw_;
      raw.streams[format::kCommands][i] = static_cast<char>(cmd[i] ^ change);
      Status st = Apply(PackDelta(raw));
      rejected += st.has_value() ? 0 : 1;
    }
  }
  // A changed command can only be harmless where it does not change the output at all.
  EXPECT_GT(rejected, static_cast<int>(cmd.size() * 3 * 9 / 10));
}

TEST_F(Corruption, PayloadByteFlipsFailTheHashCheck) {
  ASSERT_FALSE(raw_.streams[format::kDiff].empty());
  // Meta and diff bytes reach the output as they are; data bytes may sit inside a zstd frame,
  // where a flip can be harmless (Apply then checks the output is still exactly the new tar).
  for (std::size_t s : {format::kMeta, format::kDiff, format::kData}) {
    const std::string& stream = raw_.streams[s];
    int tried = 0, rejected = 0;
    for (std::size_t i = 0; i < stream.size(); i += std::max<std::size_t>(1, stream.size() / 50)) {
      RawDelta raw = raw_;
      raw.streams[s][i] = static_cast<char>(stream[i] ^ 0x20);
      Status st = Apply(PackDelta(raw));
      ++tried;
      rejected += st.has_value() ? 0 : 1;
      if (s != format::kData) {
        ASSERT_FALSE(st.has_value()) << "stream " << s << " byte " << i;
        // Changed gzip content recompresses to another length: caught before the hash.
        EXPECT_TRUE(st.error().Is(DeltaErrc::kHashMismatch) || st.error().Is(DeltaErrc::kCorrupt))
            << st.error().String();
      }
    }
    EXPECT_GT(rejected, tried * 9 / 10) << "stream " << s;
  }
}

TEST_F(Corruption, StreamSizesThatDisagreeAreRejected) {
  for (std::size_t s = 0; s < format::kStreamCount; ++s) {
    RawDelta raw = raw_;
    raw.streams[s] += "extra bytes nobody reads";
    Status st = Apply(PackDelta(raw));
    ASSERT_FALSE(st.has_value()) << "stream " << s;
    EXPECT_TRUE(st.error().Is(DeltaErrc::kCorrupt)) << st.error().String();
  }
}

TEST_F(Corruption, RandomByteFlipsNeverCrash) {
  std::mt19937 rng(1234);
  int rejected = 0;
  for (int round = 0; round < 400; ++round) {
    std::string bad = good_;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      std::size_t pos = format::kHeaderSize + rng() % (bad.size() - format::kHeaderSize);
      bad[pos] = static_cast<char>(bad[pos] ^ (1 + rng() % 255));
    }
    rejected += Apply(bad).has_value() ? 0 : 1;
  }
  EXPECT_EQ(rejected, 400);
}

TEST_F(Corruption, RandomByteFlipsInZstdPatchesNeverCrash) {
  std::filesystem::remove_all(old_dir_);
  Build(true);
  std::mt19937 rng(77);
  for (int round = 0; round < 300; ++round) {
    RawDelta raw = raw_;
    std::string& data = raw.streams[format::kData];
    data[rng() % data.size()] ^= static_cast<char>(1 + rng() % 255);
    (void)Apply(PackDelta(raw));
    std::string bad = good_;
    std::size_t pos = format::kHeaderSize + rng() % (bad.size() - format::kHeaderSize);
    bad[pos] = static_cast<char>(bad[pos] ^ (1 + rng() % 255));
    EXPECT_FALSE(Apply(bad).has_value());
  }
}

TEST_F(Corruption, RandomCommandMutationsNeverCrash) {
  std::mt19937 rng(99);
  for (int round = 0; round < 400; ++round) {
    RawDelta raw = raw_;
    std::string& cmd = raw.streams[format::kCommands];
    for (int f = 0; f < 3; ++f) {
      cmd[rng() % cmd.size()] = static_cast<char>(rng() & 0xff);
    }
    (void)Apply(PackDelta(raw));
  }
}

TEST_F(Corruption, OldPathsLeavingTheLayerAreRejected) {
  for (std::string path :
       std::vector<std::string>{"../old.tar", "/etc/passwd", "a/../../old.tar", "./a/bin", "a//bin",
                                "a/bin/", std::string("a/b\0in", 6)}) {
    std::string cmd = OldPath(path, 10);
    cmd.push_back(static_cast<char>(format::kCopy));
    format::PutVarint(cmd, 0);
    format::PutVarint(cmd, 10);
    cmd.push_back(static_cast<char>(format::kEnd));
    Status st = Apply(Crafted(cmd));
    ASSERT_FALSE(st.has_value()) << path;
    EXPECT_TRUE(st.error().Is(DeltaErrc::kPathEscape)) << st.error().String();
  }
}

TEST_F(Corruption, SymlinkOutOfTheOldLayerIsNotFollowed) {
  std::filesystem::create_directory_symlink(tmp_.path(), old_dir_ / "escape");
  std::uint64_t size = std::filesystem::file_size(tmp_ / "old.tar");
  std::string cmd = OldPath("escape/old.tar", size);
  cmd.push_back(static_cast<char>(format::kCopy));
  format::PutVarint(cmd, 0);
  format::PutVarint(cmd, size);
  cmd.push_back(static_cast<char>(format::kEnd));
  Status st = Apply(Crafted(cmd));
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().Is(DeltaErrc::kPathEscape)) << st.error().String();
}

TEST_F(Corruption, FieldsOutOfRangeAreRejected) {
  const std::uint64_t bin_size = 40000;
  auto op = [](format::Op o) { return std::string(1, static_cast<char>(o)); };
  auto v = [](std::uint64_t x) {
    std::string s;
    format::PutVarint(s, x);
    return s;
  };
  const std::string def = OldPath("a/bin", bin_size);
  const std::string full(1, static_cast<char>(format::kFull));
  const std::string sa(1, static_cast<char>(format::kSaPatch));
  struct Case {
    const char* name;
    std::string cmd;
  };
  const Case cases[] = {
      {"unknown op", std::string(1, '\x7f')},
      {"no end record", op(format::kLiteral) + v(0)},
      {"literal past the tar size", op(format::kLiteral) + v(new_tar_.size() + 1)},
      {"literal past the meta stream", op(format::kLiteral) + v(10) + op(format::kEnd)},
      {"varint of 11 bytes", op(format::kLiteral) + std::string(10, '\x80') + '\x01'},
      {"varint beyond 64 bits", op(format::kLiteral) + std::string(9, '\xff') + '\x7f'},
      {"old index out of range", def + op(format::kCopy) + v(1) + v(bin_size)},
      {"copy length not the old size", def + op(format::kCopy) + v(0) + v(bin_size - 1)},
      {"path too long", op(format::kOldPath) + v(1) + v(5000) + std::string(5000, 'a')},
      {"path past the stream", op(format::kOldPath) + v(1) + v(50) + "a/bin"},
      {"old size not the file's", OldPath("a/bin", 7) + op(format::kCopy) + v(0) + v(7)},
      {"more triples than bytes", def + op(format::kSaPatch) + v(0) + v(4) + v(6)},
      {"add past the old file",
       def + op(format::kSaPatch) + v(0) + v(10) + v(1) + v(10) + v(0) + v(0)},
      {"add past the record",
       def + op(format::kSaPatch) + v(0) + v(10) + v(1) + v(11) + v(0) + v(0)},
      {"seek before the old file", def + op(format::kSaPatch) + v(0) + v(10) + v(2) + v(0) + v(0) +
                                       v(format::ZigZag(-5)) + v(10) + v(0) + v(0)},
      {"seek past the old file", def + op(format::kSaPatch) + v(0) + v(10) + v(2) + v(0) + v(0) +
                                     v(format::ZigZag(static_cast<std::int64_t>(bin_size))) +
                                     v(10) + v(0) + v(0)},
      {"huge seek", def + op(format::kSaPatch) + v(0) + v(10) + v(2) + v(0) + v(0) +
                        v(format::ZigZag(INT64_MIN)) + v(10) + v(0) + v(0)},
      {"triples short of the record",
       def + op(format::kSaPatch) + v(0) + v(10) + v(1) + v(5) + v(0) + v(0)},
      {"zstd patch of a huge new file",
       def + op(format::kZstdPatch) + v(0) + v(format::kMaxZstdPatchSize + 1) + v(10)},
      {"zstd frame of garbage", def + op(format::kZstdPatch) + v(0) + v(10) + v(10)},
      {"gzip level 0", op(format::kGzip) + v(0) + v(100) + v(10) + v(0) + v(8) + v(10) + full},
      {"gzip mem level 10",
       op(format::kGzip) + v(0) + v(100) + v(10) + v(9) + v(10) + v(10) + full},
      {"gzip header past the record",
       op(format::kGzip) + v(0) + v(20) + v(15) + v(9) + v(8) + v(10) + full},
      {"gzip content beyond 8 MiB",
       op(format::kGzip) + v(0) + v(100) + v(10) + v(9) + v(8) + v(9u << 20) + full},
      {"gzip patch without an old file", op(format::kGzip) + v(0) + v(100) + v(10) + v(9) + v(8) +
                                             v(10) + sa + v(1) + v(10) + v(0) + v(0)},
      {"gzip content of unknown type",
       op(format::kGzip) + v(0) + v(100) + v(10) + v(9) + v(8) + v(10) + std::string(1, '\x09')},
      {"gzip old file that is not gzip",
       def + op(format::kGzip) + v(1) + v(100) + v(10) + v(9) + v(8) + v(10) + full},
      {"gzip member of another length",
       op(format::kGzip) + v(0) + v(50) + v(10) + v(9) + v(8) + v(10) + full + op(format::kEnd)},
  };
  for (const Case& c : cases) {
    Status st =
        Apply(Crafted(c.cmd, std::string(100, 'm'), std::string(100, 'd'), std::string(100, 'x')));
    ASSERT_FALSE(st.has_value()) << c.name;
    EXPECT_FALSE(st.error().Is(DeltaErrc::kHashMismatch)) << c.name << ": " << st.error().String();
  }
}

TEST_F(Corruption, LargeDictionaryIsRefused) {
  // The decoder's memory is bounded: an xz stream asking for a 64 MiB dictionary is refused.
  delta::FullHeader header = raw_.header;
  std::string big(40u << 20, '\0');
  auto c = delta::XzCompress(big, 0, 64u << 20);
  ASSERT_TRUE(c.has_value());
  std::string cmd(1, static_cast<char>(format::kFull));
  format::PutVarint(cmd, big.size());
  cmd.push_back(static_cast<char>(format::kEnd));
  header.info.new_size = big.size();
  std::string streams;
  for (std::size_t i = 0; i < format::kStreamCount; ++i) {
    std::string compressed = i == format::kData       ? *c
                             : i == format::kCommands ? *delta::XzCompress(cmd, 1, 1u << 20)
                                                      : *delta::XzCompress("", 1, 1u << 20);
    header.streams[i] = {compressed.size(), i == format::kData       ? big.size()
                                            : i == format::kCommands ? cmd.size()
                                                                     : 0};
    streams += compressed;
  }
  Status st = Apply(delta::EncodeHeader(header) + streams);
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().Is(DeltaErrc::kLimitExceeded)) << st.error().String();
}

}  // namespace
}  // namespace ferry::testing
