// Round trips: encode new against old, rebuild from the unpacked old layer, compare bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>

#include "delta_test_util.hpp"
#include "ferry/delta/delta.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "tar_builder.hpp"

namespace ferry::testing {
namespace {

using delta::DeltaErrc;

std::string LongName(char fill) {
  return "usr/share/" + std::string(120, fill) + "/" + std::string(90, fill) + ".txt";
}

std::string Text(int version) {
  std::string out;
  for (int i = 0; i < 400; ++i) {
    out += "line " + std::to_string(i) + " of the changelog, release " +
           std::to_string(i % 97 == 0 ? version : 1) + "\n";
  }
  return out;
}

// A binary-like file: random blocks, with a few bytes changed between versions.
std::string Binary(int version) {
  std::string out = RandomBytes(300000, 7);
  for (std::size_t i = 1000; i < out.size(); i += 9973) {
    out[i] = static_cast<char>(out[i] + version);
  }
  if (version > 1) {
    out.insert(5000, RandomBytes(777, 99));
  }
  return out;
}

std::string OldTar(TarBuilder::Format format) {
  TarBuilder b(format);
  b.Dir("./").Dir("./usr/").Dir("./usr/lib/").Dir("./usr/bin/");
  b.File("./usr/bin/app", Binary(1), 0755);
  b.File("./usr/lib/libfoo.so.1.2.3", Binary(1) + Text(1));
  b.File("./usr/share/changelog", Text(1));
  b.File("./usr/share/unchanged", Text(5));
  b.File("./usr/share/removed", Text(6));
  b.File("./usr/share/moved-away", RandomBytes(5000, 3));
  b.File("./" + LongName('a'), Text(2));
  b.File("./usr/share/empty", "");
  b.Symlink("./usr/lib/libfoo.so", "libfoo.so.1.2.3");
  return b.Finish();
}

std::string NewTar(TarBuilder::Format format, bool with_xattrs) {
  TarBuilder b(format);
  std::map<std::string, std::string> xattrs;
  if (with_xattrs) {
    xattrs = {{"user.comment", "hello"}, {"security.capability", std::string("\x01\0\0\x02", 4)}};
  }
  b.Dir("./").Dir("./usr/").Dir("./usr/lib/").Dir("./usr/bin/").Dir("./usr/new-dir/");
  b.File("./usr/bin/app", Binary(2), 0755, xattrs);
  b.File("./usr/lib/libfoo.so.1.2.4", Binary(2) + Text(2));
  b.File("./usr/share/changelog", Text(3));
  b.File("./usr/share/unchanged", Text(5));
  b.File("./usr/share/moved-here", RandomBytes(5000, 3));
  b.File("./" + LongName('a'), Text(4));
  b.File("./" + LongName('b'), Text(4));
  b.File("./usr/share/empty", "");
  b.File("./usr/share/added", RandomBytes(3000, 11) + Text(9));
  b.Hardlink("./usr/share/added-link", "./usr/share/added");
  b.Symlink("./usr/lib/libfoo.so", "libfoo.so.1.2.4");
  return b.Finish();
}

struct Layers {
  TempDir tmp;
  std::string old_tar, new_tar;
  std::filesystem::path old_tar_path = tmp / "old.tar", new_tar_path = tmp / "new.tar",
                        old_dir = tmp / "old", delta_path = tmp / "delta";
  Layers(std::string old_bytes, std::string new_bytes)
      : old_tar(std::move(old_bytes)), new_tar(std::move(new_bytes)) {
    WriteString(old_tar_path, old_tar);
    WriteString(new_tar_path, new_tar);
    ExtractTar(old_tar_path, old_dir);
  }
  delta::EncodeStats Encode(const std::filesystem::path& old_source) {
    auto old = delta::LoadOldLayer(old_source);
    EXPECT_TRUE(old.has_value()) << old.error().String();
    auto stats = delta::EncodeDelta(*old, new_tar_path, delta_path);
    EXPECT_TRUE(stats.has_value()) << stats.error().String();
    return stats.value_or(delta::EncodeStats{});
  }
};

class RoundTrip : public ::testing::TestWithParam<TarBuilder::Format> {};

TEST_P(RoundTrip, RebuildsTheNewTarByteForByte) {
  Layers layers(OldTar(GetParam()), NewTar(GetParam(), GetParam() == TarBuilder::Format::kPax));
  delta::EncodeStats stats = layers.Encode(layers.old_tar_path);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
  EXPECT_EQ(*rebuilt, layers.new_tar);
  EXPECT_GE(stats.unchanged, 1u);
  EXPECT_GE(stats.renamed, 2u);  // libfoo.so.1.2.3 → 1.2.4, moved-away → moved-here
  EXPECT_GE(stats.sa_patch + stats.zstd_patch, 3u);
  EXPECT_GE(stats.full, 1u);
  // Two binaries of 300 KB differ in a few bytes: the delta is a small fraction of the layer.
  EXPECT_LT(stats.delta_size, layers.new_tar.size() / 10);
}

TEST_P(RoundTrip, OldLayerAsDirectoryGivesTheSameResult) {
  Layers layers(OldTar(GetParam()), NewTar(GetParam(), true));
  layers.Encode(layers.old_dir);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
  EXPECT_EQ(*rebuilt, layers.new_tar);
}

// ferryd stopping: the decoder ends within a record or 64 KiB of output, with kCancelled, after
// passing on only part of the layer.
TEST(ApplyDelta, StopsWithCancelledWhenAskedToStop) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  std::uint64_t written = 0;
  delta::FunctionSink sink([&](std::span<const std::uint8_t> bytes) -> Status {
    written += bytes.size();
    return Ok();
  });
  const auto stop_after_64k = [&] { return written >= 64 * 1024; };
  Status st = delta::ApplyDelta(layers.old_dir, layers.delta_path, sink, stop_after_64k);
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(Errc::kCancelled)) << st.error().String();
  EXPECT_LT(written, layers.new_tar.size());
  EXPECT_LE(written, 2u * 64 * 1024);
}

INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip,
                         ::testing::Values(TarBuilder::Format::kGnu, TarBuilder::Format::kPax));

// gzip -9n of `content`, as Debian packages compress changelogs and man pages.
std::string Gzip(const TempDir& tmp, const std::string& content) {
  WriteString(tmp / "gz-input", content);
  RunResult r = ferry::testing::Run({"gzip", "-9nf", (tmp / "gz-input").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return ReadString(tmp / "gz-input.gz");
}

TEST(Delta, GzipFilesArePatchedThroughTheirContent) {
  TempDir gz_tmp;
  std::string old_gz = Gzip(gz_tmp, Prose(400, 1));
  std::string new_gz = Gzip(gz_tmp, Prose(5, 2) + Prose(400, 1));
  std::string added_gz = Gzip(gz_tmp, Prose(100, 3));
  std::string not_gzip = "\x1f\x8b\x08 but not really gzip";
  TarBuilder old_b(TarBuilder::Format::kGnu);
  old_b.File("usr/share/doc/changelog.gz", old_gz).File("usr/share/doc/odd.gz", not_gzip);
  TarBuilder new_b(TarBuilder::Format::kGnu);
  new_b.File("usr/share/doc/changelog.gz", new_gz).File("usr/share/doc/added.gz", added_gz);
  new_b.File("usr/share/doc/odd.gz", not_gzip + "!");
  Layers layers(old_b.Finish(), new_b.Finish());
  delta::EncodeStats stats = layers.Encode(layers.old_tar_path);
  EXPECT_EQ(stats.gzip, 2u);
  // Five new lines: far smaller than the recompressed file.
  EXPECT_LT(stats.delta_size, new_gz.size() / 4 + added_gz.size());
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
  EXPECT_EQ(*rebuilt, layers.new_tar);
}

// A zstd patch makes the decoder hold its old file and a window as large as the new file; past
// 8 MiB together the encoder patches with the suffix array instead, read through small windows.
TEST(Delta, LargeFilesArePatchedWithinTheDecodersMemoryBudget) {
  auto edited = [](std::string data) {
    for (std::size_t i = 4096; i < data.size(); i += 300007) {
      data[i] = static_cast<char>(data[i] ^ 0x5a);
    }
    return data;
  };
  const std::string old_large = RandomBytes(5u << 20, 21), old_small = RandomBytes(1u << 20, 22);
  TarBuilder old_b(TarBuilder::Format::kGnu);
  old_b.File("usr/lib/large.so", old_large).File("usr/lib/small.so", old_small);
  TarBuilder new_b(TarBuilder::Format::kGnu);
  new_b.File("usr/lib/large.so", edited(old_large)).File("usr/lib/small.so", edited(old_small));
  Layers layers(old_b.Finish(), new_b.Finish());
  delta::EncodeStats stats = layers.Encode(layers.old_tar_path);
  EXPECT_EQ(stats.zstd_patch, 1u);
  EXPECT_EQ(stats.sa_patch, 1u);
  EXPECT_LT(stats.delta_size, 64u << 10);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
  EXPECT_EQ(*rebuilt, layers.new_tar);
}

TEST(Delta, OldGzipThatNoLongerInflatesIsAMismatch) {
  TempDir gz_tmp;
  TarBuilder old_b(TarBuilder::Format::kGnu);
  old_b.File("doc/changelog.gz", Gzip(gz_tmp, Text(1)));
  TarBuilder new_b(TarBuilder::Format::kGnu);
  new_b.File("doc/changelog.gz", Gzip(gz_tmp, Text(2)));
  Layers layers(old_b.Finish(), new_b.Finish());
  ASSERT_EQ(layers.Encode(layers.old_tar_path).gzip, 1u);
  std::string broken = ReadString(layers.old_dir / "doc/changelog.gz");
  broken[broken.size() / 2] ^= 0x55;
  WriteString(layers.old_dir / "doc/changelog.gz", broken);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_FALSE(rebuilt.error().Is(DeltaErrc::kCorrupt)) << rebuilt.error().String();
}

TEST(Delta, HeaderNamesTheNewTarAndTheOldBase) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  auto header = delta::ReadDeltaHeader(layers.delta_path);
  ASSERT_TRUE(header.has_value()) << header.error().String();
  EXPECT_EQ(header->new_size, layers.new_tar.size());
  EXPECT_EQ(header->new_sha256, delta::Sha256Of(layers.new_tar.data(), layers.new_tar.size()));
  EXPECT_EQ(header->old_sha256, delta::Sha256Of(layers.old_tar.data(), layers.old_tar.size()));
}

TEST(Delta, EmptyLayersRoundTrip) {
  Layers layers(TarBuilder(TarBuilder::Format::kGnu).Finish(),
                TarBuilder(TarBuilder::Format::kGnu).Finish());
  layers.Encode(layers.old_tar_path);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
  EXPECT_EQ(*rebuilt, layers.new_tar);
}

TEST(Delta, NonTarInputIsCarriedVerbatim) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), RandomBytes(10000, 5) + "not a tar");
  layers.Encode(layers.old_tar_path);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
  EXPECT_EQ(*rebuilt, layers.new_tar);
}

TEST(Delta, OldFileOfAnotherSizeIsAMismatch) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  WriteString(layers.old_dir / "usr/share/changelog", "shorter");
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_TRUE(rebuilt.error().Is(DeltaErrc::kOldFileMismatch)) << rebuilt.error().String();
}

TEST(Delta, MissingOldFileIsAMismatch) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  std::filesystem::remove(layers.old_dir / "usr/bin/app");
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_TRUE(rebuilt.error().Is(DeltaErrc::kOldFileMismatch)) << rebuilt.error().String();
}

TEST(Delta, OldFileWithOtherContentFailsTheHashCheck) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  std::string text = Text(1);
  text[10] = 'X';
  WriteString(layers.old_dir / "usr/share/changelog", text);
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_TRUE(rebuilt.error().Is(DeltaErrc::kHashMismatch)) << rebuilt.error().String();
}

TEST(Delta, OldFileReplacedBySymlinkIsRefused) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  // Same size and content outside the layer: a symlink must still not be followed.
  WriteString(layers.tmp / "outside", ReadString(layers.old_dir / "usr/bin/app"));
  std::filesystem::remove(layers.old_dir / "usr/bin/app");
  std::filesystem::create_symlink(layers.tmp / "outside", layers.old_dir / "usr/bin/app");
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_TRUE(rebuilt.error().Is(DeltaErrc::kPathEscape)) << rebuilt.error().String();
}

TEST(Delta, SymlinkedOldDirectoryIsRefused) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  std::filesystem::rename(layers.old_dir / "usr/bin", layers.tmp / "bin-outside");
  std::filesystem::create_directory_symlink(layers.tmp / "bin-outside", layers.old_dir / "usr/bin");
  auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_TRUE(rebuilt.error().Is(DeltaErrc::kPathEscape)) << rebuilt.error().String();
}

TEST(Delta, SinkErrorStopsDecoding) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  std::size_t calls = 0;
  delta::FunctionSink sink([&](std::span<const std::uint8_t>) -> Status {
    ++calls;
    return Fail(Errc::kNoSpace, "disk full");
  });
  Status st = delta::ApplyDelta(layers.old_dir, layers.delta_path, sink);
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().Is(Errc::kNoSpace)) << st.error().String();
  EXPECT_EQ(calls, 1u);
}

TEST(Delta, CommandLineRoundTrip) {
  Layers layers(OldTar(TarBuilder::Format::kPax), NewTar(TarBuilder::Format::kPax, true));
  RunResult enc = ferry::testing::Run(
      {BuiltProgram("ferry-publish").string(), "delta", "--old", layers.old_tar_path.string(),
       "--new", layers.new_tar_path.string(), "--out", layers.delta_path.string()});
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_NE(enc.out.find("suffix-array patch"), std::string::npos) << enc.out;
  RunResult dec = ferry::testing::Run(
      {BuiltProgram("ferry-publish").string(), "apply", "--old", layers.old_dir.string(), "--delta",
       layers.delta_path.string(), "--out", (layers.tmp / "rebuilt.tar").string()});
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(ReadString(layers.tmp / "rebuilt.tar"), layers.new_tar);
}

TEST(Delta, CommandLineApplyOfACorruptDeltaFailsAndLeavesNoOutput) {
  Layers layers(OldTar(TarBuilder::Format::kGnu), NewTar(TarBuilder::Format::kGnu, false));
  layers.Encode(layers.old_tar_path);
  std::string bytes = ReadString(layers.delta_path);
  bytes[bytes.size() / 2] ^= 0x10;
  WriteString(layers.delta_path, bytes);
  RunResult dec = ferry::testing::Run(
      {BuiltProgram("ferry-publish").string(), "apply", "--old", layers.old_dir.string(), "--delta",
       layers.delta_path.string(), "--out", (layers.tmp / "rebuilt.tar").string()});
  EXPECT_EQ(dec.exit_code, 1);
  EXPECT_NE(dec.err.find("stream"), std::string::npos) << dec.err;
  EXPECT_FALSE(std::filesystem::exists(layers.tmp / "rebuilt.tar"));
  EXPECT_FALSE(std::filesystem::exists(layers.tmp / "rebuilt.tar.partial"));
}

// A generated pair of many files, changed the ways package updates change them: unchanged,
// binary-patched in place, shifted by an insertion, rewritten, removed, added, renamed.
std::pair<std::string, std::string> GeneratedPair(unsigned seed, int files) {
  TarBuilder old_b(TarBuilder::Format::kGnu), new_b(TarBuilder::Format::kGnu);
  for (int i = 0; i < files; ++i) {
    const unsigned file_seed = seed * 1000 + static_cast<unsigned>(i);
    const std::size_t size = 100 + (file_seed * 7919u) % 90000;
    std::string old = i % 2 == 0 ? RandomBytes(size, file_seed) : Prose(size / 60 + 1, file_seed);
    const std::string name = "usr/lib/f" + std::to_string(i) + ".so.1";
    old_b.File(name, old);
    std::string changed = old;
    switch (i % 7) {
      case 0:
        new_b.File(name, old);
        break;
      case 1:
        for (std::size_t at = 17; at < changed.size(); at += 4099) {
          changed[at] = static_cast<char>(changed[at] ^ 0x5a);
        }
        new_b.File(name, changed);
        break;
      case 2:
        changed.insert(changed.size() / 3, RandomBytes(333, file_seed + 1));
        new_b.File(name, changed);
        break;
      case 3:
        new_b.File(name, RandomBytes(size, file_seed + 2));
        break;
      case 4:
        break;  // removed
      case 5:
        new_b.File("usr/lib/f" + std::to_string(i) + ".so.2", changed.substr(5));
        break;
      case 6:
        new_b.File(name, changed + Prose(20, file_seed));
        new_b.File(name + ".added", Prose(30, file_seed + 3));
        break;
    }
  }
  return {old_b.Finish(), new_b.Finish()};
}

TEST(Delta, GeneratedPairsRoundTripAndAreTheSameForAnyNumberOfJobs) {
  for (unsigned seed : {1u, 2u, 3u}) {
    auto [old_tar, new_tar] = GeneratedPair(seed, 60);
    Layers layers(old_tar, new_tar);
    auto old = delta::LoadOldLayer(layers.old_tar_path);
    ASSERT_TRUE(old.has_value()) << old.error().String();
    std::string first;
    for (unsigned jobs : {1u, 4u, 3u}) {
      delta::EncodeOptions options;
      options.jobs = jobs;
      auto stats = delta::EncodeDelta(*old, layers.new_tar_path, layers.delta_path, options);
      ASSERT_TRUE(stats.has_value()) << stats.error().String();
      EXPECT_GE(stats->unchanged, 1u);
      EXPECT_GE(stats->zstd_patch + stats->sa_patch, 1u);
      const std::string bytes = ReadString(layers.delta_path);
      if (first.empty()) {
        first = bytes;
        auto rebuilt = ApplyToString(layers.old_dir, layers.delta_path);
        ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().String();
        EXPECT_EQ(*rebuilt, layers.new_tar) << "seed " << seed;
      } else {
        EXPECT_EQ(bytes, first) << "seed " << seed << ", " << jobs << " jobs";
      }
    }
  }
}

TEST(Delta, OldLayerIsReadFromItsSourceWhenEncoding) {
  auto [old_tar, new_tar] = GeneratedPair(4, 10);
  Layers layers(old_tar, new_tar);
  auto old = delta::LoadOldLayer(layers.old_tar_path);
  ASSERT_TRUE(old.has_value());
  std::filesystem::remove(layers.old_tar_path);
  auto stats = delta::EncodeDelta(*old, layers.new_tar_path, layers.delta_path);
  ASSERT_FALSE(stats.has_value());
  EXPECT_TRUE(stats.error().Is(DeltaErrc::kBadInput)) << stats.error().String();
}

TEST(Delta, CommandLineDeltaIsTheSameForAnyNumberOfJobs) {
  auto [old_tar, new_tar] = GeneratedPair(5, 30);
  Layers layers(old_tar, new_tar);
  std::string first;
  for (const char* jobs : {"1", "4"}) {
    RunResult r =
        ferry::testing::Run({BuiltProgram("ferry-publish").string(), "delta", "--old",
                             layers.old_tar_path.string(), "--new", layers.new_tar_path.string(),
                             "--out", layers.delta_path.string(), "--jobs", jobs, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string bytes = ReadString(layers.delta_path);
    if (first.empty()) {
      first = bytes;
    } else {
      EXPECT_EQ(bytes, first);
    }
  }
}

}  // namespace
}  // namespace ferry::testing
