// Extraction of well-formed layers: what a normal image layer holds comes out as it was packed,
// and the digest is the sha256 of every byte of the tar stream.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include <fstream>

#include "ferry/core/fs.hpp"
#include "layer_fixture.hpp"
#include "support/process.hpp"
#include "tar_builder.hpp"

namespace ferry::layers::testing {
namespace {
namespace fs = std::filesystem;

struct stat Lstat(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

std::string GetXattr(const fs::path& p, const char* name) {
  char buf[256];
  const ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

const std::string kLongName = std::string(120, 'n') + "/" + std::string(200, 'm') + ".txt";

std::string NormalLayer(TarFormat format) {
  TarBuilder b(format);
  b.Dir("etc", 0750)
      .File("etc/hostname", "device\n", 0644)
      .Dir("usr")
      .Dir("usr/bin")
      .File("usr/bin/app", "#!/bin/sh\necho hi\n", 0755)
      .File("usr/bin/empty", "", 0600)
      .Symlink("usr/bin/sh", "dash")
      .Symlink("usr/bin/abs", "/usr/bin/app")
      .Hardlink("usr/bin/app2", "usr/bin/app")
      .Entry(
          "etc/when", [](archive_entry* e) { archive_entry_set_mtime(e, 1'500'000'000, 123); }, "t")
      .Dir("ro", 0555)
      .File("ro/inside", "x", 0444);
  if (format != TarFormat::kUstar) {
    b.File(kLongName, "long");
  }
  return b.Finish();
}

class FormatTest : public LayerTest, public ::testing::WithParamInterface<TarFormat> {};

TEST_P(FormatTest, NormalLayerComesOutAsPacked) {
  const std::string tar = NormalLayer(GetParam());
  auto result = Extract(tar);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  const fs::path r = root();
  EXPECT_EQ(ReadAll(r / "etc/hostname"), "device\n");
  EXPECT_EQ(Lstat(r / "etc").st_mode & 07777, 0750u);
  EXPECT_EQ(Lstat(r / "etc").st_mtim.tv_sec, TarBuilder::kMtime);
  EXPECT_EQ(Lstat(r / "usr/bin/app").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(r / "usr/bin/app").st_mtim.tv_sec, TarBuilder::kMtime);
  EXPECT_EQ(Lstat(r / "usr/bin/empty").st_size, 0);
  EXPECT_EQ(Lstat(r / "usr/bin/empty").st_mode & 07777, 0600u);
  EXPECT_EQ(fs::read_symlink(r / "usr/bin/sh"), "dash");
  EXPECT_EQ(fs::read_symlink(r / "usr/bin/abs"), "/usr/bin/app");
  EXPECT_EQ(Lstat(r / "usr/bin/sh").st_mtim.tv_sec, TarBuilder::kMtime);
  EXPECT_EQ(Lstat(r / "usr/bin/app2").st_ino, Lstat(r / "usr/bin/app").st_ino);
  EXPECT_EQ(Lstat(r / "ro").st_mode & 07777, 0555u);
  EXPECT_EQ(ReadAll(r / "ro/inside"), "x");
  if (GetParam() == TarFormat::kPax) {
    EXPECT_EQ(Lstat(r / "etc/when").st_mtim.tv_nsec, 123);
  }
  if (GetParam() != TarFormat::kUstar) {
    EXPECT_EQ(ReadAll(r / kLongName), "long");
  }
  if (::geteuid() == 0) {
    EXPECT_EQ(Lstat(r / "etc/hostname").st_uid, 1000u);
    EXPECT_EQ(Lstat(r / "usr/bin/sh").st_gid, 1000u);
  }
  EXPECT_EQ(result->digest, "sha256:" + Sha256Hex(tar));
  EXPECT_EQ(result->tar_bytes, tar.size());
  EXPECT_EQ(result->entries, GetParam() == TarFormat::kUstar ? 12u : 13u);
}

INSTANTIATE_TEST_SUITE_P(Formats, FormatTest,
                         ::testing::Values(TarFormat::kPax, TarFormat::kGnu, TarFormat::kUstar),
                         [](const auto& param_info) {
                           switch (param_info.param) {
                             case TarFormat::kPax:
                               return "Pax";
                             case TarFormat::kGnu:
                               return "Gnu";
                             case TarFormat::kUstar:
                               return "Ustar";
                           }
                           return "";
                         });

TEST_F(LayerTest, DigestEqualsSha256sumOfTheTarFile) {
  const std::string tar = NormalLayer(TarFormat::kPax);
  ASSERT_TRUE(ferry::fs::WriteFileAtomic(tmp_ / "layer.tar", tar).has_value());
  auto result = Extract(tar);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  const auto run = ferry::testing::Run({"sha256sum", (tmp_ / "layer.tar").string()});
  ASSERT_EQ(run.exit_code, 0);
  EXPECT_EQ(result->digest, "sha256:" + run.out.substr(0, 64));
}

TEST_F(LayerTest, DigestCoversBytesAfterTheEndOfArchive) {
  const std::string tar = TarBuilder().File("a", "1").Finish() + std::string(4096, '\0') + "tail";
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{1 << 20}}) {
    ferry::testing::TempDir dir;
    MemorySource source(Bytes(tar), chunk);
    auto result = ExtractLayer(source, dir.path(), DefaultPolicy());
    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result->digest, "sha256:" + Sha256Hex(tar)) << "chunk " << chunk;
    EXPECT_EQ(result->tar_bytes, tar.size());
    EXPECT_EQ(ReadAll(dir / "a"), "1");
  }
}

TEST_F(LayerTest, UserXattrsAreRestored) {
  const std::string tar =
      TarBuilder()
          .Entry("d",
                 [](archive_entry* e) {
                   archive_entry_set_filetype(e, AE_IFDIR);
                   archive_entry_xattr_add_entry(e, "user.dir", "D", 1);
                 })
          .Entry(
              "d/f",
              [](archive_entry* e) { archive_entry_xattr_add_entry(e, "user.mime", "text", 4); },
              "body")
          .Finish();
  auto result = Extract(tar);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(GetXattr(root() / "d", "user.dir"), "D");
  EXPECT_EQ(GetXattr(root() / "d/f", "user.mime"), "text");
}

TEST_F(LayerTest, SparseFileKeepsItsHolesAndSize) {
  const std::string tar = TarBuilder()
                              .Entry(
                                  "sparse",
                                  [](archive_entry* e) {
                                    archive_entry_set_size(e, 1 << 20);
                                    archive_entry_sparse_add_entry(e, 4096, 4);
                                  },
                                  // The writer takes logical data and drops the holes.
                                  std::string(4096, '\0') + "data")
                              .Finish();
  auto result = Extract(tar);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  const std::string content = ReadAll(root() / "sparse");
  ASSERT_EQ(content.size(), 1u << 20);
  EXPECT_EQ(content.substr(4096, 4), "data");
  EXPECT_EQ(content.substr(0, 4096), std::string(4096, '\0'));
  EXPECT_LT(Lstat(root() / "sparse").st_blocks * 512, 1 << 20) << "the holes were written out";
}

TEST_F(LayerTest, DirectoryTimesSurviveLaterChildren) {
  const std::string tar = TarBuilder().Dir("d").File("d/a", "1").File("d/b", "2").Finish();
  ASSERT_TRUE(Extract(tar).has_value());
  EXPECT_EQ(Lstat(root() / "d").st_mtim.tv_sec, TarBuilder::kMtime);
}

TEST_F(LayerTest, LaterDirectoryEntryOfTheSameNameWins) {
  const std::string tar =
      TarBuilder().Dir("d", 0700).File("d/a", "1").Dir("d/", 0751).Dir("./d", 0755).Finish();
  ASSERT_TRUE(Extract(tar).has_value());
  EXPECT_EQ(Lstat(root() / "d").st_mode & 07777, 0755u);
  EXPECT_EQ(ReadAll(root() / "d/a"), "1");
}

// A benign tar may hold the same path twice (tar -r, some image builders); the last one wins, as
// with docker and GNU tar, in a subdirectory as at the top.
TEST_F(LayerTest, LaterEntryOfTheSameNameWinsInASubdirectory) {
  const std::string tar = TarBuilder()
                              .Dir("data")
                              .File("data/conf", "first")
                              .File("data/conf", "second", 0600)
                              .Symlink("data/link", "a")
                              .Symlink("data/link", "b")
                              .File("data/deep/x", "1")
                              .Symlink("data/deep/x", "conf")
                              .File("top", "1")
                              .File("top", "2")
                              .Finish();
  auto result = Extract(tar);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(ReadAll(root() / "data/conf"), "second");
  EXPECT_EQ(Lstat(root() / "data/conf").st_mode & 07777, 0600u);
  EXPECT_EQ(fs::read_symlink(root() / "data/link"), "b");
  EXPECT_EQ(fs::read_symlink(root() / "data/deep/x"), "conf");
  EXPECT_EQ(ReadAll(root() / "top"), "2");
}

TEST_F(LayerTest, RootEntryAppliesToTheRoot) {
  const std::string tar = TarBuilder().Dir("./", 0711).File("./a", "1").Finish();
  ASSERT_TRUE(Extract(tar).has_value());
  EXPECT_EQ(Lstat(root()).st_mode & 07777, 0711u);
  EXPECT_EQ(ReadAll(root() / "a"), "1");
}

TEST_F(LayerTest, SetIdBitsKeptWhenThePolicySaysSo) {
  ExtractPolicy policy = DefaultPolicy();
  policy.set_id_bits = SetIdBits::kKeep;
  ASSERT_TRUE(Extract(TarBuilder().File("su", "x", 06755).Finish(), policy).has_value());
  EXPECT_EQ(Lstat(root() / "su").st_mode & 07777, 06755u);
}

TEST_F(LayerTest, AllowListedCharDeviceIsCreated) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "mknod of a device needs root";
  }
  ExtractPolicy policy = DefaultPolicy();
  policy.allowed_char_devices = {{1, 3}};
  ASSERT_TRUE(Extract(TarBuilder().Node("null", AE_IFCHR, 1, 3).Finish(), policy).has_value());
  const struct stat st = Lstat(root() / "null");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
}

TEST_F(LayerTest, WhiteoutsBecomeOverlayWhiteouts) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "overlay whiteouts need root";
  }
  ExtractPolicy policy = DefaultPolicy();
  policy.whiteouts = WhiteoutMode::kOverlay;
  const std::string tar = TarBuilder()
                              .File("etc/.wh.old.conf", "")
                              .File("var/.wh..wh..opq", "")
                              .File("keep", "k")
                              .File(".wh.keep", "")
                              .Finish();
  auto result = Extract(tar, policy);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  const struct stat st = Lstat(root() / "etc/old.conf");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root() / "etc/.wh.old.conf")));
  EXPECT_EQ(GetXattr(root() / "var", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(ReadAll(root() / "keep"), "k");
  auto whiteouts = result->whiteouts.ToVector();
  ASSERT_TRUE(whiteouts.has_value()) << whiteouts.error().message();
  ASSERT_EQ(whiteouts->size(), 3u);
  EXPECT_EQ((*whiteouts)[0].path, "etc/old.conf");
  EXPECT_EQ((*whiteouts)[1].path, "var");
  EXPECT_TRUE((*whiteouts)[1].opaque);
}

TEST_F(LayerTest, WhiteoutsListedWithoutTouchingTheTree) {
  ExtractPolicy policy = DefaultPolicy();
  policy.whiteouts = WhiteoutMode::kList;
  const std::string tar =
      TarBuilder().File("etc/.wh.old.conf", "").File(".wh..wh..opq", "").Finish();
  auto result = Extract(tar, policy);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_FALSE(fs::exists(fs::symlink_status(root() / "etc/old.conf")));
  auto whiteouts = result->whiteouts.ToVector();
  ASSERT_TRUE(whiteouts.has_value()) << whiteouts.error().message();
  ASSERT_EQ(whiteouts->size(), 2u);
  EXPECT_EQ((*whiteouts)[0].path, "etc/old.conf");
  EXPECT_FALSE((*whiteouts)[0].opaque);
  EXPECT_EQ((*whiteouts)[1].path, "");
  EXPECT_TRUE((*whiteouts)[1].opaque);
}

TEST_F(LayerTest, NonEmptyRootIsRefused) {
  ASSERT_TRUE(ferry::fs::WriteFileAtomic(root() / "old", "x").has_value());
  auto result = Extract(TarBuilder().File("a", "1").Finish());
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kDestinationNotEmpty));
}

TEST_F(LayerTest, TruncatedTarIsMalformed) {
  const std::string tar = TarBuilder().File("a", std::string(10000, 'a')).Finish();
  auto result = Extract(tar.substr(0, 3000));
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kMalformedArchive)) << result.error().message();
}

TEST_F(LayerTest, NotATarIsMalformed) {
  auto result = Extract(std::string(4096, 'z'));
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kMalformedArchive)) << result.error().message();
}

TEST_F(LayerTest, SourceErrorIsReportedAsItself) {
  const std::string tar = TarBuilder().File("a", std::string(100000, 'a')).Finish();
  std::size_t served = 0;
  CallbackSource source([&]() -> Result<std::span<const std::byte>> {
    if (served >= 8192) {
      return Fail(Errc::kUnavailable, "connection reset");
    }
    served += 4096;
    return Bytes(tar).subspan(served - 4096, 4096);
  });
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(Errc::kUnavailable)) << result.error().message();
  EXPECT_NE(result.error().message().find("connection reset"), std::string::npos);
}

std::string Compress(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_EQ(ZSTD_isError(n), 0u);
  out.resize(n);
  return out;
}

TEST_F(LayerTest, ZstdSourceFeedsTheExtractor) {
  const std::string tar = NormalLayer(TarFormat::kPax);
  const std::string blob = Compress(tar);
  MemorySource raw(Bytes(blob), 1000);
  ZstdSource source(raw);
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->digest, "sha256:" + Sha256Hex(tar));
  EXPECT_EQ(ReadAll(root() / "etc/hostname"), "device\n");
}

TEST_F(LayerTest, ReadAheadZstdFeedsTheExtractor) {
  const std::string tar = NormalLayer(TarFormat::kGnu);
  const std::string blob = Compress(tar);
  MemorySource raw(Bytes(blob), 333);
  ZstdSource zstd(raw);
  ReadAheadSource source(zstd, 2, 8192);
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->digest, "sha256:" + Sha256Hex(tar));
  EXPECT_EQ(result->tar_bytes, tar.size());
  EXPECT_EQ(ReadAll(root() / "usr/bin/app"), "#!/bin/sh\necho hi\n");
}

TEST_F(LayerTest, TruncatedZstdIsCorrupt) {
  const std::string tar = TarBuilder().File("a", std::string(100000, 'q') + "end").Finish();
  const std::string blob = Compress(tar);
  MemorySource raw(Bytes(blob).first(blob.size() - 10));
  ZstdSource source(raw);
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(Errc::kCorrupt)) << result.error().message();
}

// Compresses `data` as one streamed frame (no content size) with a window of 2^window_log.
std::string CompressWithWindow(const std::string& data, int window_log) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log);
  std::string out(ZSTD_compressBound(data.size()) + 1024, '\0');
  ZSTD_outBuffer o{out.data(), out.size(), 0};
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_continue);
  ZSTD_inBuffer end{nullptr, 0, 0};
  while (ZSTD_compressStream2(cctx, &o, &end, ZSTD_e_end) != 0) {
  }
  ZSTD_freeCCtx(cctx);
  out.resize(o.pos);
  return out;
}

TEST_F(LayerTest, ZstdSourceAcceptsTheWindowFerryPublishWrites) {
  const std::string tar = TarBuilder().File("a", std::string(1 << 20, 'q')).Finish();
  const std::string blob = CompressWithWindow(tar, kLayerZstdWindowLog);
  MemorySource raw(Bytes(blob));
  ZstdSource source(raw);
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->digest, "sha256:" + Sha256Hex(tar));
}

TEST_F(LayerTest, ZstdFrameWithALargerWindowIsRefusedBeforeItsWindowIsAllocated) {
  // Frames of ferry-publish before windows were capped (2^27), or a hostile blob.
  const std::string tar = TarBuilder().File("a", std::string(1 << 20, 'q')).Finish();
  const std::string blob = CompressWithWindow(tar, kLayerZstdWindowLog + 1);
  const Snapshot before = TakeSnapshot();
  MemorySource raw(Bytes(blob));
  ZstdSource source(raw);
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(Errc::kLimitExceeded)) << result.error().message();
  EXPECT_NE(result.error().message().find("needs a window over 8 MiB"), std::string::npos)
      << result.error().message();
  EXPECT_EQ(TakeSnapshot(), before);
}

TEST_F(LayerTest, ManyDirectoriesAllGetTheirModesAndTimes) {
  // More directories than TreeWriter keeps in memory: the rest wait in a temporary file.
  TarBuilder builder;
  constexpr int kDirs = 10'000;
  for (int i = 0; i < kDirs; ++i) {
    const std::string dir = "d" + std::to_string(i);
    builder.Dir(dir, i % 2 == 0 ? 0750 : 0705).File(dir + "/f", "x");
  }
  builder.Dir("d0", 0711);  // a later entry for the same directory wins
  const std::string tar = builder.Finish();
  MemorySource source(Bytes(tar));
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_TRUE(result.has_value()) << result.error().message();
  for (int i : {0, 1, 4095, 4096, 4097, 8191, 8192, kDirs - 1}) {
    struct stat st {};
    const auto dir = root() / ("d" + std::to_string(i));
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 07777, i == 0 ? 0711u : (i % 2 == 0 ? 0750u : 0705u)) << dir;
    EXPECT_EQ(st.st_mtim.tv_sec, TarBuilder::kMtime) << dir;
  }
  std::size_t names = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root())) {
    ++names;
  }
  EXPECT_EQ(names, static_cast<std::size_t>(kDirs)) << "nothing but the layer's entries";
}

TEST_F(LayerTest, FileSourceReadsAFile) {
  const std::string tar = NormalLayer(TarFormat::kGnu);
  ASSERT_TRUE(ferry::fs::WriteFileAtomic(tmp_ / "layer.tar", tar).has_value());
  FileSource source(tmp_ / "layer.tar");
  auto result = ExtractLayer(source, root(), DefaultPolicy());
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->digest, "sha256:" + Sha256Hex(tar));

  FileSource missing(tmp_ / "missing.tar");
  ferry::testing::TempDir other;
  auto failed = ExtractLayer(missing, other.path(), DefaultPolicy());
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message().find("missing.tar"), std::string::npos);
}

}  // namespace
}  // namespace ferry::layers::testing
