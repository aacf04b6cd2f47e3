// Hostile layers in a release, one class of docs/testing.md §4 after another, each with variants:
// the engine refuses to stage the revision (or, for privileges the class allows stripping,
// installs it stripped), the error names the entry, nothing outside changes, nothing is left
// half-staged, and the running revision stays. The extractor's own corpus, with more variants per
// class, is tests/unit/layers/hostile_layer_test.cpp.
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <fstream>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "release_builder.hpp"
#include "support/advancing_sleeper.hpp"
#include "support/fake_runtime.hpp"
#include "support/temp_dir.hpp"
#include "tar_builder.hpp"

namespace ferry::engine {
namespace {

using namespace std::chrono_literals;
using layers::testing::TarBuilder;
namespace stdfs = std::filesystem;

struct HostileRelease {
  std::string name;
  // The layer's tar, given the absolute path of the outside folder and its path relative to the
  // extraction root (state/layers/<hex>.partial).
  std::function<std::string(const std::string& abs, const std::string& rel)> tar;
  std::string entry;  // the error must name it (or, when contained, the file to check)
  std::uint64_t declared_size = 0;
  // The class allows containing it: installed, with the privilege stripped (no setuid or setgid
  // bit, no file capability) instead of refused.
  bool contained = false;
  // Figures the manifest declares for the layer (ferry-publish counts them); unset: not declared.
  std::optional<std::uint64_t> declared_entries = std::nullopt;
  std::optional<std::uint64_t> declared_unpacked_size = std::nullopt;
};

void PrintTo(const HostileRelease& c, std::ostream* os) { *os << c.name; }

std::string Big(std::size_t n) { return std::string(n, 'x'); }

std::string Deep(int levels) {
  std::string p;
  for (int i = 0; i < levels; ++i) {
    p += "a/";
  }
  return p + "f";
}

std::vector<HostileRelease> Corpus() {
  using S = const std::string&;
  return {
      // `..` components and absolute paths.
      {"DotDotFile", [](S, S rel) { return TarBuilder().File(rel + "/sentinel", "evil").Finish(); },
       "/outside/sentinel"},
      {"DotDotInTheMiddle",
       [](S, S rel) { return TarBuilder().File("a/../" + rel + "/sentinel", "evil").Finish(); },
       "/outside/sentinel"},
      {"DotSlashDotDot",
       [](S, S rel) { return TarBuilder().File("./" + rel + "/new", "evil").Finish(); },
       "/outside/new"},
      {"DotDotDirectory", [](S, S rel) { return TarBuilder().Dir(rel + "/newdir").Finish(); },
       "/outside/newdir"},
      {"AbsoluteFile",
       [](S abs, S) { return TarBuilder().File(abs + "/sentinel", "evil").Finish(); },
       "/outside/sentinel"},
      {"AbsoluteDirectory", [](S abs, S) { return TarBuilder().Dir(abs + "/newdir").Finish(); },
       "/outside/newdir"},
      // Symlinks pointing outside, then entries written through them.
      {"FileThroughAbsoluteSymlink",
       [](S abs, S) {
         return TarBuilder().Symlink("link", abs).File("link/sentinel", "evil").Finish();
       },
       "link/sentinel"},
      {"FileThroughRelativeSymlink",
       [](S, S rel) { return TarBuilder().Symlink("link", rel).File("link/new", "evil").Finish(); },
       "link/new"},
      {"FileThroughSymlinkViaDot",
       [](S abs, S) {
         return TarBuilder().Symlink("link", abs + "/.").File("link/./sentinel", "evil").Finish();
       },
       "link/./sentinel"},
      {"FileThroughChainedSymlinks",
       [](S abs, S) {
         return TarBuilder()
             .Symlink("l1", abs)
             .Symlink("l2", "l1")
             .File("l2/sentinel", "evil")
             .Finish();
       },
       "l2/sentinel"},
      {"DirectoryThroughSymlink",
       [](S abs, S) { return TarBuilder().Symlink("link", abs).Dir("link/newdir").Finish(); },
       "link/newdir"},
      {"SymlinkThroughSymlink",
       [](S abs, S) {
         return TarBuilder().Symlink("link", abs).Symlink("link/new", "/etc/passwd").Finish();
       },
       "link/new"},
      {"DirectoryReplacedBySymlinkThenFile",
       [](S abs, S) {
         return TarBuilder().Dir("d").Symlink("d", abs).File("d/sentinel", "evil").Finish();
       },
       "d"},
      // Hardlinks to outside or to symlinks.
      {"HardlinkToAbsolutePath",
       [](S abs, S) { return TarBuilder().Hardlink("h", abs + "/sentinel").Finish(); },
       "/outside/sentinel"},
      {"HardlinkDotDot",
       [](S, S rel) { return TarBuilder().Hardlink("h", rel + "/sentinel").Finish(); },
       "/outside/sentinel"},
      {"HardlinkToMissingTarget",
       [](S, S) { return TarBuilder().Hardlink("h", "etc/shadow").Finish(); }, "etc/shadow"},
      {"HardlinkThroughSymlinkedParent",
       [](S abs, S) { return TarBuilder().Symlink("s", abs).Hardlink("h", "s/sentinel").Finish(); },
       "s/sentinel"},
      // Device nodes, FIFOs.
      {"CharDevice", [](S, S) { return TarBuilder().Node("dev/mem", AE_IFCHR, 1, 1).Finish(); },
       "dev/mem"},
      {"BlockDevice", [](S, S) { return TarBuilder().Node("sda", AE_IFBLK, 8, 0).Finish(); },
       "sda"},
      {"Fifo", [](S, S) { return TarBuilder().Node("pipe", AE_IFIFO, 0, 0).Finish(); }, "pipe"},
      // setuid/setgid bits, file capabilities, overlay xattrs.
      {"Setuid", [](S, S) { return TarBuilder().File("bin/su", "#!", 04755).Finish(); }, "bin/su",
       0, true},
      {"Setgid", [](S, S) { return TarBuilder().File("bin/sg", "#!", 02755).Finish(); }, "bin/sg",
       0, true},
      {"FileCapability",
       [](S, S) {
         return TarBuilder()
             .Entry(
                 "ping",
                 [](archive_entry* e) {
                   archive_entry_xattr_add_entry(e, "security.capability", "\x01\x00\x00\x02", 4);
                 },
                 "elf")
             .Finish();
       },
       "ping", 0, true},
      {"OverlayXattr",
       [](S, S) {
         return TarBuilder()
             .Entry("etc",
                    [](archive_entry* e) {
                      archive_entry_set_filetype(e, AE_IFDIR);
                      archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
                    })
             .Finish();
       },
       "etc"},
      // OCI whiteouts aimed at parents or through symlinks.
      {"WhiteoutOfTheParent", [](S, S) { return TarBuilder().File(".wh..", "").Finish(); },
       ".wh.."},
      {"WhiteoutWithDots", [](S, S) { return TarBuilder().File("etc/.wh...", "").Finish(); },
       "etc/.wh..."},
      {"WhiteoutThroughSymlink",
       [](S abs, S) { return TarBuilder().Symlink("l", abs).File("l/.wh.sentinel", "").Finish(); },
       "l/.wh.sentinel"},
      {"OpaqueWhiteoutThroughSymlink",
       [](S abs, S) { return TarBuilder().Symlink("l", abs).File("l/.wh..wh..opq", "").Finish(); },
       "l/.wh..wh..opq"},
      // Bounds: a tar longer than signed (a bomb), deep paths, long names and targets.
      {"LongerThanSigned", [](S, S) { return TarBuilder().File("big", Big(2 << 20)).Finish(); },
       "over the limit of 65536 bytes", 64 << 10},
      {"PathTooDeep", [](S, S) { return TarBuilder().File(Deep(2100), "").Finish(); }, "a/a/a"},
      {"HundredKilobyteName", [](S, S) { return TarBuilder().File(Big(100 << 10), "").Finish(); },
       "xxxx"},
      {"ComponentTooLong", [](S, S) { return TarBuilder().File("d/" + Big(300), "").Finish(); },
       "d/xxx"},
      {"HundredKilobyteSymlinkTarget",
       [](S, S) { return TarBuilder().Symlink("l", Big(100 << 10)).Finish(); }, "\"l\""},
      // More than the signed manifest declares: refused at the first entry over, not at the end.
      {"MoreEntriesThanDeclared",
       [](S, S) {
         TarBuilder tar;
         for (int i = 0; i < 50; ++i) {
           tar.File("f" + std::to_string(i), "x");
         }
         return tar.Finish();
       },
       "entry \"f5\": the layer has more entries than the 5 its manifest declares", 0, false, 5,
       std::nullopt},
      {"LargerThanDeclaredUnpackedSize",
       [](S, S) { return TarBuilder().File("a", Big(100)).File("b", Big(1 << 20)).Finish(); },
       "entry \"b\": the layer's files exceed the unpacked size of 1000 bytes", 0, false,
       std::nullopt, 1000},
  };
}

class HostileReleaseTest : public ::testing::TestWithParam<HostileRelease> {
 protected:
  void SetUp() override {
    stdfs::create_directories(dir_ / "state");
    auto s = store::OpenStateStore(dir_ / "state" / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    EngineOptions options;
    options.stop_grace = 1s;
    options.rootfs = RootfsMode::kHardlink;
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    engine_ = std::make_unique<Engine>(Layout(dir_ / "state"), *store_, *reporter_, runtime_,
                                       clock_, sleeper_, options);
    stdfs::create_directories(dir_ / "outside" / "sentineldir");
    std::ofstream(dir_ / "outside" / "sentinel") << "untouched";
    base_ = builder_.Layer({{{"bin/app", "app"}, {"www/index.html", "v1"}}, {}});
  }

  Result<InstallResult> Install(const manifest::Manifest& m) {
    DirBlobProvider blobs(builder_.blob_dir());
    return engine_->Install(m, manifest::SerializeManifest(m), blobs);
  }

  // Every path below `root` with its size, mode and mtime: what "unchanged" is checked against.
  static std::map<std::string, std::string> Snapshot(const stdfs::path& root) {
    std::map<std::string, std::string> out;
    for (const auto& e : stdfs::recursive_directory_iterator(root)) {
      const auto st = stdfs::symlink_status(e.path());
      std::string what = std::to_string(static_cast<int>(st.type())) + " " +
                         std::to_string(static_cast<unsigned>(st.permissions()));
      if (stdfs::is_regular_file(st)) {
        what += " " + *fs::ReadFile(e.path());
      }
      out[e.path().string()] = what;
    }
    return out;
  }

  testing::TempDir dir_;
  testing::TempDir work_;
  testing::ReleaseBuilder builder_{work_.path()};
  testing::BuiltLayer base_;
  ManualClock clock_;
  testing::AdvancingSleeper sleeper_{clock_};
  testing::FakeRuntime runtime_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(HostileReleaseTest, IsRefusedAndChangesNothing) {
  const HostileRelease& c = GetParam();
  const auto v1 = builder_.Release("web", "1.0.0", {base_});
  auto r1 = Install(v1);
  ASSERT_TRUE(r1 && r1->outcome == Outcome::kCommitted);
  const auto outside_before = Snapshot(dir_ / "outside");
  const auto rootfs_before = Snapshot(dir_ / "state" / "apps" / "web" / "current" / "rootfs");

  const std::string abs = (dir_ / "outside").string();
  // From state/layers/<hex>.partial: up three levels is the test's folder.
  auto hostile = builder_.RawLayer(c.tar(abs, "../../../outside"), c.declared_size);
  hostile.layer.entries = c.declared_entries;
  hostile.layer.unpacked_size = c.declared_unpacked_size;
  const auto v2 = builder_.Release("web", "2.0.0", {base_, hostile});
  auto r2 = Install(v2);
  ASSERT_TRUE(r2) << r2.error().message();
  EXPECT_EQ(Snapshot(dir_ / "outside"), outside_before) << c.name;
  if (c.contained) {
    ASSERT_EQ(r2->outcome, Outcome::kCommitted) << c.name << ": " << r2->reason;
    const auto file = dir_ / "state" / "apps" / "web" / "current" / "rootfs" / c.entry;
    struct stat st {};
    ASSERT_EQ(::lstat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0u) << c.name << ": the bit must be stripped";
    EXPECT_LT(::lgetxattr(file.c_str(), "security.capability", nullptr, 0), 0)
        << c.name << ": the capability must be stripped";
    // Not silently: one history event for the layer says what was stripped and from how many.
    auto events = store_->PendingEvents(1000);
    ASSERT_TRUE(events);
    int said = 0;
    for (const auto& e : *events) {
      if (e.kind == "staging" && e.payload.find("stripped") != std::string::npos &&
          e.payload.find(hostile.layer.diff_id) != std::string::npos) {
        ++said;
        EXPECT_NE(e.payload.find("of 1 file"), std::string::npos) << e.payload;
      }
    }
    EXPECT_EQ(said, 1) << c.name;
    return;
  }
  EXPECT_EQ(r2->outcome, Outcome::kFailed) << c.name << " was installed";
  EXPECT_NE(r2->reason.find(c.entry), std::string::npos)
      << c.name << ": the reason should name " << c.entry << ": " << r2->reason;

  EXPECT_EQ(Snapshot(dir_ / "outside"), outside_before) << c.name;
  EXPECT_EQ(*fs::ReadFile(dir_ / "outside" / "sentinel"), "untouched");
  EXPECT_FALSE(stdfs::exists("/etc/passwd-ferry-test"));
  EXPECT_EQ(store_->GetApp("web")->current_revision, r1->revision);
  EXPECT_EQ(Snapshot(dir_ / "state" / "apps" / "web" / "current" / "rootfs"), rootfs_before);
  auto running = runtime_.Get(ContainerId("web", r1->revision));
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state.status, runtime::ContainerStatus::kRunning);
  EXPECT_FALSE(stdfs::exists(dir_ / "state" / "apps" / "web" / "revisions" / r2->revision));
  for (const auto& dir :
       {dir_ / "state" / "layers", dir_ / "state" / "apps" / "web" / "revisions"}) {
    for (const auto& e : stdfs::directory_iterator(dir)) {
      EXPECT_NE(e.path().extension(), ".partial") << "left behind: " << e.path();
    }
  }
  EXPECT_FALSE(stdfs::exists(Layout(dir_ / "state").layer(hostile.layer.diff_id)))
      << "the hostile layer must not be in the layer store";
}

INSTANTIATE_TEST_SUITE_P(Corpus, HostileReleaseTest, ::testing::ValuesIn(Corpus()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(HostileReleaseCorpus, CoversAtLeastThirtyLayers) { EXPECT_GE(Corpus().size(), 30u); }

}  // namespace
}  // namespace ferry::engine
