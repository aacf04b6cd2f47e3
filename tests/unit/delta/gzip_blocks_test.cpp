// Gzip members whose blocks GNU gzip ended early: rebuilt bit for bit from their content and block
// ends, carried by GZIP_BLOCKS records (format version 2), and hostile records are refused.
#include "agent/delta/gzip_blocks.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "agent/delta/format.hpp"
#include "delta_test_util.hpp"
#include "ferry/delta/delta.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "tar_builder.hpp"

namespace ferry::testing {
namespace {

namespace format = delta::format;
using delta::DeltaErrc;

// Lines of a few unique letters and a long repeated phrase: few distance codes and long matches,
// so that GNU gzip's statistics end its first blocks after 4096 symbols, where zlib goes on.
std::string SplitProne(std::size_t lines, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out;
  for (std::size_t i = 0; i < lines; ++i) {
    for (int c = 0; c < 3; ++c) {
      out.push_back(static_cast<char>('a' + rng() % 26));
    }
    out += " fixed part of every line that repeats itself again and again\n";
  }
  return out;
}

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::uint32_t VersionOf(const std::string& delta_file) {
  return static_cast<std::uint32_t>(
      format::GetLe(reinterpret_cast<const unsigned char*>(delta_file.data()) + 8, 4));
}

class GzipBlocks : public ::testing::Test {
 protected:
  std::string GnuGzip(const std::string& content) {
    WriteString(tmp_ / "gz", content);
    RunResult r = ferry::testing::Run({"gzip", "-9nf", (tmp_ / "gz").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadString(tmp_ / "gz.gz");
  }

  // Encodes old -> new (tars built from the given files) and returns the delta file's bytes.
  std::string Encode(const std::vector<std::pair<std::string, std::string>>& old_files,
                     const std::vector<std::pair<std::string, std::string>>& new_files,
                     const delta::EncodeOptions& options = {}) {
    TarBuilder old_b(TarBuilder::Format::kGnu), new_b(TarBuilder::Format::kGnu);
    for (const auto& [path, data] : old_files) {
      old_b.File(path, data);
    }
    for (const auto& [path, data] : new_files) {
      new_b.File(path, data);
    }
    new_tar_ = new_b.Finish();
    WriteString(tmp_ / "old.tar", old_b.Finish());
    WriteString(tmp_ / "new.tar", new_tar_);
    std::filesystem::remove_all(old_dir_);
    ExtractTar(tmp_ / "old.tar", old_dir_);
    auto old = delta::LoadOldLayer(tmp_ / "old.tar");
    EXPECT_TRUE(old.has_value());
    auto stats = delta::EncodeDelta(*old, tmp_ / "new.tar", tmp_ / "delta", options);
    EXPECT_TRUE(stats.has_value()) << stats.error().String();
    return ReadString(tmp_ / "delta");
  }

  Status Apply(const std::string& bytes) {
    WriteString(tmp_ / "bad", bytes);
    auto out = ApplyToString(old_dir_, tmp_ / "bad");
    if (out) {
      EXPECT_EQ(*out, new_tar_);
      return Ok();
    }
    return Fail(out.error());
  }

  TempDir tmp_;
  std::filesystem::path old_dir_ = tmp_ / "old";
  std::string new_tar_;
};

TEST_F(GzipBlocks, GnuGzipEarlyBlocksAreRebuiltExactly) {
  const std::string content = SplitProne(3000, 1);
  const std::string file = GnuGzip(content);
  ASSERT_FALSE(delta::ReproducibleGzip(file).has_value()) << "zlib alone rebuilds it: no test";
  auto member = delta::ReproducibleGzipBlocks(file);
  ASSERT_TRUE(member.has_value());
  EXPECT_FALSE(member->block_ends.empty());
  EXPECT_EQ(member->member.content, content);
  std::string rebuilt = file.substr(0, member->member.header_len);
  Status st = delta::DeflateRawBlocks(
      Bytes(content), member->member.level, member->member.mem_level, member->block_ends,
      [&](std::span<const std::uint8_t> out) -> Status {
        rebuilt.append(reinterpret_cast<const char*>(out.data()), out.size());
        return Ok();
      });
  ASSERT_TRUE(st.has_value()) << st.error().String();
  auto trailer = delta::GzipTrailer(Bytes(content));
  rebuilt.append(reinterpret_cast<const char*>(trailer.data()), trailer.size());
  EXPECT_EQ(rebuilt, file);
}

TEST_F(GzipBlocks, NotGzipOrTruncatedIsNotRecognized) {
  const std::string file = GnuGzip(SplitProne(3000, 2));
  EXPECT_FALSE(delta::ReproducibleGzipBlocks("not gzip at all, just some text").has_value());
  EXPECT_FALSE(delta::ReproducibleGzipBlocks(file.substr(0, file.size() / 2)).has_value());
  EXPECT_FALSE(delta::ReproducibleGzipBlocks(file + "trailing").has_value());
  std::string bad_crc = file;
  bad_crc[bad_crc.size() - 6] ^= 1;
  EXPECT_FALSE(delta::ReproducibleGzipBlocks(bad_crc).has_value());
}

TEST_F(GzipBlocks, BlockEndsOutsideTheContentAreRejected) {
  const std::string content(100, 'x');
  auto emit = [](std::span<const std::uint8_t>) -> Status { return Ok(); };
  for (const std::vector<std::uint64_t>& ends : std::vector<std::vector<std::uint64_t>>{
           {0}, {100}, {101}, {50, 50}, {60, 40}, {UINT64_MAX}}) {
    Status st = delta::DeflateRawBlocks(Bytes(content), 9, 8, ends, emit);
    ASSERT_FALSE(st.has_value());
    EXPECT_TRUE(st.error().Is(DeltaErrc::kCorrupt)) << st.error().String();
  }
}

TEST_F(GzipBlocks, RoundTripWithExecutablesIsExactAndVersion2) {
  // An ELF-like executable (header, code-like bytes, a changed part) next to the changelog.
  std::string elf =
      "\x7f"
      "ELF\x02\x01\x01" +
      std::string(9, '\0') + RandomBytes(60000, 3);
  std::string elf2 = elf;
  elf2.insert(30000, "\xe8\x10\x20\x00\x00\x90\x90");
  elf2[50000] = '\x55';
  const std::string old_log = SplitProne(3000, 4);
  const std::string new_log = SplitProne(40, 5) + old_log;
  std::string delta = Encode({{"usr/bin/tool", elf}, {"doc/changelog.gz", GnuGzip(old_log)}},
                             {{"usr/bin/tool", elf2}, {"doc/changelog.gz", GnuGzip(new_log)}});
  EXPECT_EQ(VersionOf(delta), format::kVersionGzipBlocks);
  // The changelog's patch is small: far less than the member itself.
  EXPECT_LT(delta.size(), GnuGzip(new_log).size() / 2 + 2000);
  EXPECT_TRUE(Apply(delta).has_value());
}

TEST_F(GzipBlocks, DeltaWithoutSplitGzipStaysVersion1) {
  std::string delta =
      Encode({{"a/doc.gz", GnuGzip(Prose(300, 1))}, {"a/text", Prose(50, 2)}},
             {{"a/doc.gz", GnuGzip(Prose(3, 2) + Prose(300, 1))}, {"a/text", Prose(51, 2)}});
  EXPECT_EQ(VersionOf(delta), format::kVersion);
  EXPECT_TRUE(Apply(delta).has_value());
}

TEST_F(GzipBlocks, Version1IsWrittenWhenAsked) {
  const std::string old_log = SplitProne(3000, 8);
  const std::string new_log = SplitProne(40, 9) + old_log;
  delta::EncodeOptions options;
  options.max_version = format::kVersion;
  std::string delta = Encode({{"doc/changelog.gz", GnuGzip(old_log)}},
                             {{"doc/changelog.gz", GnuGzip(new_log)}}, options);
  EXPECT_EQ(VersionOf(delta), format::kVersion);
  EXPECT_TRUE(Apply(delta).has_value());
}

class GzipBlocksCorruption : public GzipBlocks {
 protected:
  void SetUp() override {
    const std::string log = SplitProne(3000, 6);
    good_ = Encode({{"doc/changelog.gz", GnuGzip(log)}},
                   {{"doc/changelog.gz", GnuGzip(SplitProne(20, 7) + log)}});
    ASSERT_EQ(VersionOf(good_), format::kVersionGzipBlocks);
    raw_ = UnpackDelta(good_);
  }

  std::string good_;
  RawDelta raw_;
};

TEST_F(GzipBlocksCorruption, HostileBlockFieldsAreRejected) {
  auto v = [](std::uint64_t x) {
    std::string s;
    format::PutVarint(s, x);
    return s;
  };
  // GZIP_BLOCKS, no old file, new_len 100, header 10, level 9, mem level 8, content 50.
  const std::string head = std::string(1, static_cast<char>(format::kGzipBlocks)) + v(0) + v(100) +
                           v(10) + v(9) + v(8) + v(50);
  const std::string full(1, static_cast<char>(format::kFull));
  const std::string end(1, static_cast<char>(format::kEnd));
  struct Case {
    const char* name;
    std::string cmd;
  };
  const Case cases[] = {
      {"no blocks", head + v(0) + full + end},
      {"too many blocks", head + v(delta::kMaxGzipBlocks + 1) + full + end},
      {"empty block", head + v(2) + v(10) + v(0) + full + end},
      {"block ending at the content's end", head + v(1) + v(50) + full + end},
      {"blocks past the content", head + v(2) + v(30) + v(30) + full + end},
      {"block list past the stream", head + v(3) + v(1)},
  };
  for (const Case& c : cases) {
    RawDelta raw = raw_;
    raw.streams = {c.cmd, std::string(100, 'm'), "", std::string(100, 'x')};
    Status st = Apply(PackDelta(raw));
    ASSERT_FALSE(st.has_value()) << c.name;
    EXPECT_TRUE(st.error().Is(DeltaErrc::kCorrupt)) << c.name << ": " << st.error().String();
  }
}

TEST_F(GzipBlocksCorruption, RecordInAVersion1DeltaIsRejected) {
  RawDelta raw = raw_;
  raw.header.version = format::kVersion;
  Status st = Apply(PackDelta(raw));
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().Is(DeltaErrc::kCorrupt)) << st.error().String();
}

TEST_F(GzipBlocksCorruption, UnknownVersionIsUnsupported) {
  RawDelta raw = raw_;
  raw.header.version = format::kMaxVersion + 1;
  Status st = Apply(PackDelta(raw));
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().Is(DeltaErrc::kUnsupported)) << st.error().String();
}

TEST_F(GzipBlocksCorruption, RandomCommandMutationsNeverCrash) {
  std::mt19937 rng(2024);
  const std::string& cmd = raw_.streams[format::kCommands];
  for (int round = 0; round < 300; ++round) {
    RawDelta raw = raw_;
    std::string& c = raw.streams[format::kCommands];
    for (int f = 0; f < 2; ++f) {
      c[rng() % cmd.size()] = static_cast<char>(rng() & 0xff);
    }
    (void)Apply(PackDelta(raw));
  }
  EXPECT_TRUE(Apply(good_).has_value());
}

}  // namespace
}  // namespace ferry::testing
