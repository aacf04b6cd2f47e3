// The corpus of hostile layers (docs/testing.md §4): each is refused with its own error code and a
// message naming the entry, or contained where the class allows it; in every case nothing outside
// the extraction root changes (content, mode, owner, times, ctime).
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <zstd.h>

#include <functional>
#include <optional>

#include "agent/layers/tree_writer.hpp"
#include "layer_fixture.hpp"
#include "tar_builder.hpp"

namespace ferry::layers::testing {
namespace {
namespace fs = std::filesystem;

struct HostileCase {
  std::string name;
  std::function<std::string(const LayerTest&)> make;
  std::optional<LayersErrc> refused;  // nullopt: contained (extraction succeeds)
  std::string entry_in_message;       // the message must name this entry
  std::function<void(ExtractPolicy&)> policy = [](ExtractPolicy&) {};
  std::function<void(const fs::path& root)> check_contained = [](const fs::path&) {};
};

std::string Outside(const LayerTest& t) { return t.outside().string(); }

std::vector<HostileCase> Corpus();

class HostileLayer : public LayerTest, public ::testing::WithParamInterface<HostileCase> {};

// The same corpus with the component-by-component walk that kernels without openat2 get.
class HostileLayerWithoutOpenat2 : public HostileLayer {
 public:
  void SetUp() override {
    HostileLayer::SetUp();
    DisableOpenat2ForTesting(true);
  }
  void TearDown() override { DisableOpenat2ForTesting(false); }
};

void RunCase(LayerTest& t, const HostileCase& c);

TEST_P(HostileLayer, IsRefusedOrContainedAndOutsideIsUntouched) { RunCase(*this, GetParam()); }

TEST_P(HostileLayerWithoutOpenat2, IsRefusedOrContainedAndOutsideIsUntouched) {
  RunCase(*this, GetParam());
}

void RunCase(LayerTest& t, const HostileCase& c) {
  const std::string tar = c.make(t);
  ExtractPolicy policy = LayerTest::DefaultPolicy();
  c.policy(policy);
  const Snapshot before = t.TakeSnapshot();
  auto result = t.Extract(tar, policy);
  if (c.refused) {
    ASSERT_FALSE(result.has_value()) << c.name << " was extracted";
    EXPECT_EQ(result.error().code(), make_error_code(*c.refused)) << result.error().message();
    EXPECT_NE(result.error().message().find(c.entry_in_message), std::string::npos)
        << "message does not name " << c.entry_in_message << ": " << result.error().message();
  } else {
    ASSERT_TRUE(result.has_value()) << result.error().message();
    c.check_contained(t.root());
  }
  EXPECT_EQ(t.TakeSnapshot(), before) << "something outside the root changed";
  EXPECT_EQ(ReadAll(t.outside() / "sentinel"), "do not touch");
}

INSTANTIATE_TEST_SUITE_P(Corpus, HostileLayer, ::testing::ValuesIn(Corpus()),
                         [](const auto& param_info) { return param_info.param.name; });
INSTANTIATE_TEST_SUITE_P(Corpus, HostileLayerWithoutOpenat2, ::testing::ValuesIn(Corpus()),
                         [](const auto& param_info) { return param_info.param.name; });

std::string Big(std::size_t n) { return std::string(n, 'x'); }

std::string Repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

bool HasXattr(const fs::path& p, const char* name) {
  return ::lgetxattr(p.c_str(), name, nullptr, 0) >= 0;
}

std::vector<HostileCase> Corpus() {
  std::vector<HostileCase> c;
  // `..` components and absolute paths.
  c.push_back(
      {"DotDotFile",
       [](const LayerTest&) { return TarBuilder().File("../outside/sentinel", "evil").Finish(); },
       LayersErrc::kUnsafePath, "../outside/sentinel"});
  c.push_back({"DotDotInMiddle",
               [](const LayerTest&) {
                 return TarBuilder().Dir("a").File("a/../../outside/sentinel", "evil").Finish();
               },
               LayersErrc::kUnsafePath, "a/../../outside/sentinel"});
  c.push_back(
      {"DotSlashDotDot",
       [](const LayerTest&) { return TarBuilder().File("./../outside/new", "evil").Finish(); },
       LayersErrc::kUnsafePath, "./../outside/new"});
  c.push_back(
      {"DotDotDirectory",
       [](const LayerTest&) { return TarBuilder().Dir("../outside/sentineldir", 0777).Finish(); },
       LayersErrc::kUnsafePath, "../outside/sentineldir"});
  c.push_back({"AbsoluteFile",
               [](const LayerTest& t) {
                 return TarBuilder().File(Outside(t) + "/sentinel", "evil").Finish();
               },
               LayersErrc::kUnsafePath, "/sentinel"});
  c.push_back({"AbsoluteDirectoryGnu",
               [](const LayerTest& t) {
                 return TarBuilder(TarFormat::kGnu).Dir(Outside(t) + "/sentineldir", 0777).Finish();
               },
               LayersErrc::kUnsafePath, "/sentineldir"});
  c.push_back({"DotDotGnuLongName",
               [](const LayerTest&) {
                 return TarBuilder(TarFormat::kGnu)
                     .File(Repeat("d/", 70) + Repeat("../", 71) + "outside/new", "evil")
                     .Finish();
               },
               LayersErrc::kUnsafePath, "d/d/d/d"});
  c.push_back({"DotDotSymlinkName",
               [](const LayerTest&) {
                 return TarBuilder(TarFormat::kUstar).Symlink("../outside/link", "/etc").Finish();
               },
               LayersErrc::kUnsafePath, "../outside/link"});

  // Symlinks pointing outside, then entries written through them.
  c.push_back(
      {"FileThroughSymlink",
       [](const LayerTest&) {
         return TarBuilder().Symlink("link", "../outside").File("link/sentinel", "evil").Finish();
       },
       LayersErrc::kSymlinkInPath, "link/sentinel"});
  c.push_back({"FileThroughAbsoluteSymlink",
               [](const LayerTest& t) {
                 return TarBuilder().Symlink("link", Outside(t)).File("link/new", "evil").Finish();
               },
               LayersErrc::kSymlinkInPath, "link/new"});
  c.push_back({"ChainedSymlinks",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Symlink("l1", "../outside")
                     .Symlink("l2", "l1")
                     .File("l2/sentinel", "evil")
                     .Finish();
               },
               LayersErrc::kSymlinkInPath, "l2/sentinel"});
  c.push_back(
      {"SymlinkViaDot",
       [](const LayerTest&) {
         return TarBuilder().Symlink("link", "../outside").File("link/./sentinel", "evil").Finish();
       },
       LayersErrc::kSymlinkInPath, "link/./sentinel"});
  c.push_back({"SymlinkToDotThenDotDot",
               [](const LayerTest&) {
                 return TarBuilder().Symlink("self", ".").File("self/self/x", "evil").Finish();
               },
               LayersErrc::kSymlinkInPath, "self/self/x"});
  c.push_back(
      {"DirectoryThroughSymlink",
       [](const LayerTest&) {
         return TarBuilder().Symlink("link", "../outside").Dir("link/sentineldir", 0777).Finish();
       },
       LayersErrc::kSymlinkInPath, "link/sentineldir"});
  c.push_back(
      {"SymlinkThroughSymlink",
       [](const LayerTest&) {
         return TarBuilder().Symlink("link", "../outside").Symlink("link/x", "/etc").Finish();
       },
       LayersErrc::kSymlinkInPath, "link/x"});
  c.push_back({"FileThroughSymlinkedDeepParent",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Dir("a")
                     .Dir("a/b")
                     .Symlink("a/b/c", "../../../outside")
                     .File("a/b/c/sentineldir/new", "evil")
                     .Finish();
               },
               LayersErrc::kSymlinkInPath, "a/b/c/sentineldir/new"});
  c.push_back({"SymlinkOutsideAloneIsKept",
               [](const LayerTest&) {
                 return TarBuilder().Symlink("link", "../outside/sentinel").Finish();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) {
                 EXPECT_EQ(fs::read_symlink(root / "link"), "../outside/sentinel");
               }});

  // Hardlinks to outside or to symlinks.
  c.push_back(
      {"HardlinkDotDot",
       [](const LayerTest&) { return TarBuilder().Hardlink("h", "../outside/sentinel").Finish(); },
       LayersErrc::kBadHardlink, "../outside/sentinel"});
  c.push_back({"HardlinkAbsolute",
               [](const LayerTest& t) {
                 return TarBuilder().Hardlink("h", Outside(t) + "/sentinel").Finish();
               },
               LayersErrc::kBadHardlink, "/sentinel"});
  c.push_back(
      {"HardlinkToSymlink",
       [](const LayerTest&) {
         return TarBuilder().Symlink("s", "../outside/sentinel").Hardlink("h", "s").Finish();
       },
       LayersErrc::kBadHardlink, "\"s\""});
  c.push_back(
      {"HardlinkThroughSymlinkedParent",
       [](const LayerTest&) {
         return TarBuilder().Symlink("s", "../outside").Hardlink("h", "s/sentinel").Finish();
       },
       LayersErrc::kBadHardlink, "s/sentinel"});
  c.push_back({"HardlinkToMissing",
               [](const LayerTest&) { return TarBuilder().Hardlink("h", "etc/shadow").Finish(); },
               LayersErrc::kBadHardlink, "etc/shadow"});
  c.push_back({"HardlinkToDirectory",
               [](const LayerTest&) { return TarBuilder().Dir("d").Hardlink("h", "d").Finish(); },
               LayersErrc::kBadHardlink, "\"h\""});
  c.push_back(
      {"WriteOverHardlinkLeavesTargetAlone",
       [](const LayerTest&) {
         return TarBuilder().File("f", "original").Hardlink("h", "f").File("h", "new").Finish();
       },
       std::nullopt, "", [](ExtractPolicy&) {},
       [](const fs::path& root) {
         EXPECT_EQ(ReadAll(root / "f"), "original");
         EXPECT_EQ(ReadAll(root / "h"), "new");
       }});

  // Directory -> symlink -> file of the same name.
  c.push_back({"DirThenSymlinkThenFile",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Dir("d")
                     .Symlink("d", "../outside")
                     .File("d/sentinel", "evil")
                     .Finish();
               },
               LayersErrc::kSymlinkInPath, "d/sentinel"});
  c.push_back({"NonEmptyDirThenSymlink",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Dir("d")
                     .File("d/x", "1")
                     .Symlink("d", "../outside")
                     .File("d/sentinel", "evil")
                     .Finish();
               },
               LayersErrc::kTypeConflict, "\"d\""});
  c.push_back({"SymlinkThenDirReplacesIt",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Symlink("d", "../outside")
                     .Dir("d/.", 0777)
                     .File("d/sentinel", "inside")
                     .Finish();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) {
                 EXPECT_TRUE(fs::is_directory(fs::symlink_status(root / "d")));
                 EXPECT_EQ(ReadAll(root / "d/sentinel"), "inside");
               }});
  c.push_back(
      {"FileOverSymlinkReplacesIt",
       [](const LayerTest&) {
         return TarBuilder().Symlink("f", "../outside/sentinel").File("f", "evil", 0777).Finish();
       },
       std::nullopt, "", [](ExtractPolicy&) {},
       [](const fs::path& root) {
         EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root / "f")));
         EXPECT_EQ(ReadAll(root / "f"), "evil");
       }});
  c.push_back({"DirModeOverSymlinkDoesNotFollow",
               [](const LayerTest&) {
                 return TarBuilder().Symlink("d", "../outside/sentineldir").Dir("d", 0777).Finish();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) {
                 EXPECT_EQ(fs::status(root / "d").permissions(), fs::perms::all);
               }});

  // Device nodes, FIFOs and sockets.
  c.push_back(
      {"CharDevice",
       [](const LayerTest&) { return TarBuilder().Node("dev/mem", AE_IFCHR, 1, 1).Finish(); },
       LayersErrc::kDeviceNode, "dev/mem"});
  c.push_back({"BlockDevice",
               [](const LayerTest&) { return TarBuilder().Node("sda", AE_IFBLK, 8, 0).Finish(); },
               LayersErrc::kDeviceNode, "sda"});
  c.push_back({"BlockDeviceEvenIfAllowListed",
               [](const LayerTest&) { return TarBuilder().Node("sda", AE_IFBLK, 8, 0).Finish(); },
               LayersErrc::kDeviceNode, "sda",
               [](ExtractPolicy& p) {
                 p.allowed_char_devices = {{8, 0}};
               }});
  c.push_back({"Fifo",
               [](const LayerTest&) { return TarBuilder().Node("pipe", AE_IFIFO, 0, 0).Finish(); },
               LayersErrc::kSpecialFile, "pipe"});
  c.push_back(
      {"FifoAllowedByPolicy",
       [](const LayerTest&) { return TarBuilder().Node("pipe", AE_IFIFO, 0, 0).Finish(); },
       std::nullopt, "", [](ExtractPolicy& p) { p.allow_fifos = true; },
       [](const fs::path& root) { EXPECT_TRUE(fs::is_fifo(fs::symlink_status(root / "pipe"))); }});

  // setuid/setgid bits, file capabilities, overlay xattrs.
  c.push_back({"SetuidStripped",
               [](const LayerTest&) {
                 return TarBuilder().File("su", "#!", 04755).File("sg", "#!", 02755).Finish();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) {
                 struct stat st {};
                 ASSERT_EQ(::lstat((root / "su").c_str(), &st), 0);
                 EXPECT_EQ(st.st_mode & 07777, 0755u);
                 ASSERT_EQ(::lstat((root / "sg").c_str(), &st), 0);
                 EXPECT_EQ(st.st_mode & 07777, 0755u);
               }});
  c.push_back({"SetuidRefusedByPolicy",
               [](const LayerTest&) { return TarBuilder().File("bin/su", "#!", 04755).Finish(); },
               LayersErrc::kSetIdBits, "bin/su",
               [](ExtractPolicy& p) { p.set_id_bits = SetIdBits::kRefuse; }});
  c.push_back({"FileCapabilityStripped",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Entry(
                         "ping",
                         [](archive_entry* e) {
                           archive_entry_xattr_add_entry(e, "security.capability",
                                                         "\x01\x00\x00\x02", 4);
                           archive_entry_xattr_add_entry(e, "user.note", "ok", 2);
                         },
                         "elf")
                     .Finish();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) {
                 EXPECT_FALSE(HasXattr(root / "ping", "security.capability"));
                 EXPECT_TRUE(HasXattr(root / "ping", "user.note"));
               }});
  c.push_back({"FileCapabilityRefusedByPolicy",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Entry(
                         "ping",
                         [](archive_entry* e) {
                           archive_entry_xattr_add_entry(e, "security.capability",
                                                         "\x01\x00\x00\x02", 4);
                         },
                         "elf")
                     .Finish();
               },
               LayersErrc::kForbiddenXattr, "ping",
               [](ExtractPolicy& p) { p.refuse_unlisted_xattrs = true; }});
  c.push_back({"OverlayOpaqueXattr",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Entry("etc",
                            [](archive_entry* e) {
                              archive_entry_set_filetype(e, AE_IFDIR);
                              archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
                            })
                     .Finish();
               },
               LayersErrc::kForbiddenXattr, "etc"});
  c.push_back({"OverlayRedirectXattrEvenIfListed",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Entry(
                         "f",
                         [](archive_entry* e) {
                           archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
                         },
                         "x")
                     .Finish();
               },
               LayersErrc::kForbiddenXattr, "\"f\"",
               [](ExtractPolicy& p) {
                 p.xattr_prefixes = {"user.", "trusted."};
               }});

  // OCI whiteouts aimed at parents or through symlinks.
  c.push_back({"WhiteoutOfDotDot",
               [](const LayerTest&) { return TarBuilder().File("etc/.wh...", "").Finish(); },
               LayersErrc::kBadWhiteout, "etc/.wh..."});
  c.push_back({"WhiteoutOfDot",
               [](const LayerTest&) { return TarBuilder().File(".wh..", "").Finish(); },
               LayersErrc::kBadWhiteout, ".wh.."});
  c.push_back({"WhiteoutThroughSymlink",
               [](const LayerTest&) {
                 return TarBuilder().Symlink("l", "../outside").File("l/.wh.sentinel", "").Finish();
               },
               LayersErrc::kSymlinkInPath, "l/.wh.sentinel"});
  c.push_back({"OpaqueThroughSymlink",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Symlink("l", "../outside/sentineldir")
                     .File("l/.wh..wh..opq", "")
                     .Finish();
               },
               LayersErrc::kSymlinkInPath, "l/.wh..wh..opq"});
  c.push_back(
      {"WhiteoutNamedParent",
       [](const LayerTest&) { return TarBuilder().File(".wh.etc/passwd", "evil").Finish(); },
       LayersErrc::kBadWhiteout, ".wh.etc/passwd"});
  c.push_back({"WhiteoutOfWhiteout",
               [](const LayerTest&) { return TarBuilder().File(".wh..wh.x", "").Finish(); },
               LayersErrc::kBadWhiteout, ".wh..wh.x"});

  // Bombs and limits.
  c.push_back({"FileOverSizeLimit",
               [](const LayerTest&) { return TarBuilder().File("big", Big(2 << 20)).Finish(); },
               LayersErrc::kFileTooLarge, "big",
               [](ExtractPolicy& p) { p.max_file_bytes = 1 << 20; }});
  c.push_back({"HugeSparseFile",
               [](const LayerTest&) {
                 return TarBuilder()
                     .Entry(
                         "sparse",
                         [](archive_entry* e) {
                           archive_entry_set_size(e, 1LL << 40);
                           archive_entry_sparse_add_entry(e, 0, 4);
                         },
                         "data")
                     .Finish();
               },
               LayersErrc::kFileTooLarge, "sparse"});
  c.push_back({"FilesOverTotalLimit",
               [](const LayerTest&) {
                 TarBuilder b;
                 for (int i = 0; i < 3; ++i) {
                   b.File("f" + std::to_string(i), Big(600 << 10));
                 }
                 return b.Finish();
               },
               LayersErrc::kLayerTooLarge, "f1",
               [](ExtractPolicy& p) { p.max_total_file_bytes = 1 << 20; }});
  c.push_back({"TarStreamOverLimit",
               [](const LayerTest&) { return TarBuilder().File("f", Big(300 << 10)).Finish(); },
               LayersErrc::kLayerTooLarge, "limit",
               [](ExtractPolicy& p) { p.max_tar_bytes = 100 << 10; }});
  c.push_back({"TooManyEntries",
               [](const LayerTest&) {
                 TarBuilder b;
                 for (int i = 0; i < 101; ++i) {
                   b.File("f" + std::to_string(i), "");
                 }
                 return b.Finish();
               },
               LayersErrc::kTooManyEntries, "f100", [](ExtractPolicy& p) { p.max_entries = 100; }});
  c.push_back(
      {"TooDeep",
       [](const LayerTest&) { return TarBuilder().File(Repeat("a/", 300) + "f", "").Finish(); },
       LayersErrc::kPathTooDeep, "a/a/a"});
  c.push_back(
      {"Path4096Deep",
       [](const LayerTest&) { return TarBuilder().File(Repeat("a/", 4096) + "f", "").Finish(); },
       LayersErrc::kPathTooLong, "a/a/a"});
  c.push_back({"Name100KB",
               [](const LayerTest&) { return TarBuilder().File(Big(100 << 10), "").Finish(); },
               LayersErrc::kPathTooLong, "xxxx"});
  c.push_back({"Component300Bytes",
               [](const LayerTest&) { return TarBuilder().File("d/" + Big(300), "").Finish(); },
               LayersErrc::kNameTooLong, "d/xxx"});
  c.push_back({"SymlinkTarget100KB",
               [](const LayerTest&) { return TarBuilder().Symlink("l", Big(100 << 10)).Finish(); },
               LayersErrc::kPathTooLong, "\"l\""});

  // NUL bytes in names: a ustar name ends at its first NUL, as every tar reader reads it.
  c.push_back({"NulInUstarName",
               [](const LayerTest&) {
                 const std::string name("safe\0/../../outside/sentinel", 28);
                 return RawUstarHeader(name, '0', 4) + Pad512("evil") + EndOfArchive();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) { EXPECT_EQ(ReadAll(root / "safe"), "evil"); }});
  c.push_back({"NulInPaxPath",
               [](const LayerTest&) {
                 const std::string record("path=ok\0/../../outside/sentinel", 31);
                 return RawPaxHeader(record) + RawUstarHeader("placeholder", '0', 4) +
                        Pad512("evil") + EndOfArchive();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) {
                 EXPECT_EQ(ReadAll(root / "ok"), "evil");
                 EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()),
                           1);
               }});
  c.push_back({"NulInSymlinkTarget",
               [](const LayerTest&) {
                 const std::string link("x\0/../outside", 14);
                 return RawUstarHeader("l", '2', 0, link) + EndOfArchive();
               },
               std::nullopt, "", [](ExtractPolicy&) {},
               [](const fs::path& root) { EXPECT_EQ(fs::read_symlink(root / "l"), "x"); }});
  return c;
}

TEST_F(LayerTest, SocketEntriesAreRefused) {
  ExtractPolicy policy = DefaultPolicy();
  auto writer = TreeWriter::Open(root(), policy);
  ASSERT_TRUE(writer.has_value());
  EntryHeader header;
  header.path = "run/sock";
  header.kind = EntryKind::kSocket;
  auto st = writer->Write(header, [] { return Result<DataBlock>(DataBlock{}); });
  ASSERT_FALSE(st.has_value());
  EXPECT_TRUE(st.error().Is(LayersErrc::kSpecialFile));
  EXPECT_NE(st.error().message().find("run/sock"), std::string::npos);
  EXPECT_FALSE(fs::exists(root() / "run"));
}

TEST_F(LayerTest, CompressedBombStopsAtTheTarLimit) {
  // 256 MB of zeros compress to a few KB; the tar limit stops reading long before the end.
  TarBuilder b;
  b.Entry("zeros", [](archive_entry* e) { archive_entry_set_size(e, 256LL << 20); });
  std::string tar = b.Finish();
  // Append the data blocks by hand: TarBuilder would keep them all in memory twice.
  std::string head = tar.substr(0, tar.size() - 1024);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::string compressed(ZSTD_compressBound(1 << 20) * 300, '\0');
  ZSTD_outBuffer out{compressed.data(), compressed.size(), 0};
  ZSTD_inBuffer in{head.data(), head.size(), 0};
  ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue);
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 256; ++i) {
    ZSTD_inBuffer z{zeros.data(), zeros.size(), 0};
    ZSTD_compressStream2(cctx, &out, &z, ZSTD_e_continue);
  }
  ZSTD_inBuffer end{nullptr, 0, 0};
  while (ZSTD_compressStream2(cctx, &out, &end, ZSTD_e_end) != 0) {
  }
  ZSTD_freeCCtx(cctx);
  compressed.resize(out.pos);
  ASSERT_LT(compressed.size(), 1u << 20);

  ExtractPolicy policy = DefaultPolicy();
  policy.max_tar_bytes = 8 << 20;
  const Snapshot before = TakeSnapshot();
  MemorySource raw(Bytes(compressed));
  ZstdSource source(raw);
  auto result = ExtractLayer(source, root(), policy);
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(result.error().Is(LayersErrc::kLayerTooLarge)) << result.error().message();
  EXPECT_EQ(TakeSnapshot(), before);
}

TEST_F(LayerTest, DefaultPolicyBoundsEntriesAndNames) {
  const ExtractPolicy policy;
  EXPECT_EQ(policy.max_entries, 1'000'000u);
  EXPECT_EQ(policy.max_name_length, 255u);
  EXPECT_EQ(policy.max_path_length, 4096u);
  EXPECT_TRUE(policy.allowed_char_devices.empty());
  EXPECT_FALSE(policy.allow_fifos);
  EXPECT_EQ(policy.set_id_bits, SetIdBits::kStrip);
}

}  // namespace
}  // namespace ferry::layers::testing
