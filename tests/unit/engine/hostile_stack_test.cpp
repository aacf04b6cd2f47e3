// Hostile stacks of layers (issue #15): each layer alone is acceptable to the extractor, but a
// later one turns what an earlier one made into something else — a file into a directory or a
// symlink, a directory into a symlink (to a host directory) or a file — or hardlinks to it, or
// aims whiteouts through it. Assembled as an overlay and as a hardlink farm, read-only and
// writable, nothing outside the state directory changes: a sentinel tree beside it is recorded
// (content, mode, owner, size, mtime and ctime) before and after. A stack is either installed as
// overlayfs would show it (the later layer wins) or refused with an error naming the entry; a
// symlink over a directory an earlier layer still shows is always refused.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "ferry/core/fs.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/report/outbox_reporter.hpp"
#include "release_builder.hpp"
#include "support/advancing_sleeper.hpp"
#include "support/fake_runtime.hpp"
#include "support/mounts.hpp"
#include "support/sentinel.hpp"
#include "support/temp_dir.hpp"
#include "tar_builder.hpp"

namespace ferry::engine {
namespace {

using namespace std::chrono_literals;
using layers::testing::TarBuilder;
namespace stdfs = std::filesystem;
using ::ferry::testing::OverlayUnavailable;
using ::ferry::testing::SnapshotTree;

using LayerTar = std::function<std::string(const std::string& outside)>;

struct HostileStack {
  std::string name;
  std::vector<LayerTar> layers;  // bottom first, above the release's base layer
  std::string refused_entry;     // empty: installed; else the error names it
  // Installed: what the container sees at `path` ("file:<content>", "dir", "link:<target>",
  // "none").
  std::string path = {};
  std::string expect = {};
};

std::vector<HostileStack> Stacks() {
  using S = const std::string&;
  return {
      // The finding: a directory of a lower layer becomes a symlink to a host directory that
      // holds directories of the same names as the lower layer below it.
      {"DirectoryBecomesSymlinkToHost",
       {[](S) {
          return TarBuilder()
              .Dir("a", 0750)
              .Dir("a/sentineldir", 0700)
              .Dir("a/sentineldir/sub", 0700)
              .File("a/sentineldir/sub/f", "x")
              .Finish();
        },
        [](S out) { return TarBuilder().Symlink("a", out).Finish(); }},
       "entry \"a\" replaces a directory of an earlier layer with a symlink"},
      {"DirectoryBecomesSymlinkToHostWithAWhiteout",
       {[](S) {
          return TarBuilder()
              .Dir("a", 0750)
              .Dir("a/sentineldir", 0700)
              .Dir("a/sentineldir/sub", 0700)
              .File("a/sentineldir/sub/f", "x")
              .Finish();
        },
        [](S out) { return TarBuilder().Symlink("a", out).File(".wh.www", "").Finish(); }},
       "entry \"a\" replaces a directory of an earlier layer with a symlink"},
      {"DirectoryBecomesRelativeSymlinkUpwards",
       {[](S) { return TarBuilder().Dir("a").Dir("a/sub", 0700).Finish(); },
        [](S) {
          return TarBuilder().Symlink("a", "../../../../../../../..").File(".wh.x", "").Finish();
        }},
       "entry \"a\" replaces a directory of an earlier layer with a symlink"},
      {"DirectoryBecomesFile",
       {[](S) { return TarBuilder().Dir("d", 0700).File("d/x", "lower").Finish(); },
        [](S) { return TarBuilder().File("d", "a file now").File(".wh.www", "").Finish(); }},
       "",
       "d",
       "file:a file now"},
      {"FileBecomesDirectory",
       {[](S) { return TarBuilder().File("x", "file").Finish(); },
        [](S) { return TarBuilder().Dir("x", 0711).File("x/y", "inside").Finish(); }},
       "",
       "x/y",
       "file:inside"},
      {"FileBecomesSymlinkToHostFile",
       {[](S) { return TarBuilder().File("etc/conf", "mine").Finish(); },
        [](S out) { return TarBuilder().Symlink("etc/conf", out + "/sentinel").Finish(); }},
       "",
       "etc/conf",
       "link:OUT/sentinel"},
      {"SymlinkToHostBecomesDirectory",
       {[](S out) { return TarBuilder().Symlink("lib", out).Finish(); },
        [](S) { return TarBuilder().Dir("lib").File("lib/sentinel", "libc").Finish(); }},
       "",
       "lib/sentinel",
       "file:libc"},
      {"FileWrittenBelowALowerSymlinkToHost",
       {[](S out) { return TarBuilder().Symlink("l", out).Finish(); },
        [](S) { return TarBuilder().File("l/sentinel", "evil").Finish(); }},
       "",
       "l/sentinel",
       "file:evil"},
      {"WhiteoutThroughALowerSymlinkToHost",
       {[](S out) { return TarBuilder().Symlink("l", out).Finish(); },
        [](S) { return TarBuilder().File("l/.wh.sentinel", "").Finish(); }},
       "",
       "l",
       "dir"},
      {"OpaqueWhiteoutThroughALowerSymlinkToHost",
       {[](S out) { return TarBuilder().Symlink("l", out).Finish(); },
        [](S) { return TarBuilder().File("l/.wh..wh..opq", "").Finish(); }},
       "",
       "l",
       "dir"},
      {"ThirdLayerWritesBelowTheSymlink",
       {[](S) { return TarBuilder().Dir("a").Dir("a/sentineldir", 0700).Finish(); },
        [](S out) { return TarBuilder().Symlink("a", out).File(".wh.www", "").Finish(); },
        [](S) {
          return TarBuilder().Dir("a/sentineldir", 0777).File("a/sentineldir/n", "3").Finish();
        }},
       "entry \"a\" replaces a directory of an earlier layer with a symlink"},
      {"WhiteoutOfADirectoryThatBecameASymlink",
       {[](S) {
          return TarBuilder().Dir("a").Dir("a/sentineldir").File("a/sentineldir/f", "x").Finish();
        },
        [](S out) { return TarBuilder().Symlink("a", out).Finish(); },
        [](S) { return TarBuilder().File("a/.wh.sentineldir", "").Finish(); }},
       "entry \"a\" replaces a directory of an earlier layer with a symlink"},
      // A symlink where an earlier layer's directory is gone already is an ordinary symlink.
      {"SymlinkWhereAWhiteoutRemovedTheDirectory",
       {[](S) { return TarBuilder().Dir("a").Dir("a/sub", 0700).Finish(); },
        [](S) { return TarBuilder().File(".wh.a", "").Finish(); },
        [](S out) { return TarBuilder().Symlink("a", out).Finish(); }},
       "",
       "a",
       "link:OUT"},
      {"SymlinkBelowAnOpaqueDirectoryOfTheSameLayer",
       {[](S) { return TarBuilder().Dir("p").Dir("p/a").Dir("p/a/sub", 0700).Finish(); },
        [](S out) {
          return TarBuilder().Dir("p").File("p/.wh..wh..opq", "").Symlink("p/a", out).Finish();
        }},
       "",
       "p/a",
       "link:OUT"},
      {"SymlinkOverADirectoryHiddenByAFileBetween",
       {[](S) { return TarBuilder().Dir("a").Dir("a/sub", 0700).Finish(); },
        [](S) { return TarBuilder().File("a", "a file").Finish(); },
        [](S out) { return TarBuilder().Symlink("a", out).Finish(); }},
       "",
       "a",
       "link:OUT"},
      // Hardlinks to what an earlier layer made: a layer is unpacked alone, so they are refused.
      {"HardlinkToAFileOfAnEarlierLayer",
       {[](S) { return TarBuilder().File("bin/tool", "lower").Finish(); },
        [](S) { return TarBuilder().Hardlink("bin/tool2", "bin/tool").Finish(); }},
       "bin/tool2"},
      {"HardlinkThroughALowerSymlinkToHost",
       {[](S out) { return TarBuilder().Symlink("s", out).Finish(); },
        [](S) { return TarBuilder().Hardlink("h", "s/sentinel").Finish(); }},
       "\"h\""},
  };
}

enum class Kind { kHardlink, kOverlay };

struct Param {
  HostileStack stack;
  Kind kind;
  bool writable;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.stack.name; }

class HostileStackTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (GetParam().kind == Kind::kOverlay) {
      if (std::string why = OverlayUnavailable(dir_ / "probe"); !why.empty()) {
        GTEST_SKIP() << "overlay mounts are not available here: " << why;
      }
    }
    stdfs::create_directories(dir_ / "state");
    auto s = store::OpenStateStore(dir_ / "state" / "state.db", clock_);
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
    EngineOptions options;
    options.stop_grace = 1s;
    options.rootfs =
        GetParam().kind == Kind::kOverlay ? RootfsMode::kOverlay : RootfsMode::kHardlink;
    reporter_ = std::make_unique<report::OutboxReporter>(*store_);
    engine_ = std::make_unique<Engine>(Layout(dir_ / "state"), *store_, *reporter_, runtime_,
                                       clock_, sleeper_, options);
    // The sentinel tree: a file, and a directory (with a `sub/`, as in the finding) whose modes
    // and owners differ from anything a layer sets.
    stdfs::create_directories(outside() / "sentineldir" / "sub");
    std::ofstream(outside() / "sentinel") << "untouched";
    std::ofstream(outside() / "sentineldir" / "f") << "host";
    ::chmod((outside() / "sentineldir").c_str(), 0751);
    ::chmod((outside() / "sentineldir" / "sub").c_str(), 0755);
    ::chmod(outside().c_str(), 0755);
    if (::geteuid() == 0) {
      ASSERT_EQ(::chown((outside() / "sentineldir" / "sub").c_str(), 4321, 4321), 0);
    }
    base_ = builder_.Layer({{{"bin/app", "app"}, {"www/index.html", "v1"}}, {}});
  }

  void TearDown() override {
    engine_.reset();
    store_.reset();
    ferry::testing::UnmountAllBelow(dir_.path());
  }

  stdfs::path outside() const { return dir_ / "outside"; }

  Result<InstallResult> Install(manifest::Manifest m) {
    m.config.read_only_rootfs = !GetParam().writable;
    DirBlobProvider blobs(builder_.blob_dir());
    return engine_->Install(m, manifest::SerializeManifest(m), blobs);
  }

  ferry::testing::TempDir dir_;
  ferry::testing::TempDir work_;
  ferry::testing::ReleaseBuilder builder_{work_.path()};
  ferry::testing::BuiltLayer base_;
  ManualClock clock_;
  ferry::testing::AdvancingSleeper sleeper_{clock_};
  ferry::testing::FakeRuntime runtime_;
  std::unique_ptr<store::StateStore> store_;
  std::unique_ptr<report::OutboxReporter> reporter_;
  std::unique_ptr<Engine> engine_;
};

std::string Seen(const stdfs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    return "none";
  }
  if (S_ISLNK(st.st_mode)) {
    return "link:" + stdfs::read_symlink(p).string();
  }
  if (S_ISDIR(st.st_mode)) {
    return "dir";
  }
  auto content = fs::ReadFile(p);
  return "file:" + (content ? *content : "<unreadable>");
}

TEST_P(HostileStackTest, NothingOutsideChanges) {
  const HostileStack& c = GetParam().stack;
  const auto v1 = builder_.Release("web", "1.0.0", {base_});
  auto r1 = Install(v1);
  ASSERT_TRUE(r1 && r1->outcome == Outcome::kCommitted);
  const auto before = SnapshotTree(outside());

  std::vector<ferry::testing::BuiltLayer> layers{base_};
  for (const auto& tar : c.layers) {
    layers.push_back(builder_.RawLayer(tar(outside().string())));
  }
  auto r2 = Install(builder_.Release("web", "2.0.0", layers));
  ASSERT_TRUE(r2) << r2.error().message();
  EXPECT_EQ(SnapshotTree(outside()), before) << c.name;
  if (!c.refused_entry.empty()) {
    EXPECT_EQ(r2->outcome, Outcome::kFailed) << c.name << " was installed";
    EXPECT_NE(r2->reason.find(c.refused_entry), std::string::npos)
        << c.name << ": the reason should name " << c.refused_entry << ": " << r2->reason;
    EXPECT_EQ(store_->GetApp("web")->current_revision, r1->revision);
    return;
  }
  ASSERT_EQ(r2->outcome, Outcome::kCommitted) << c.name << ": " << r2->reason;
  const stdfs::path rootfs = dir_ / "state" / "apps" / "web" / "current" / "rootfs";
  std::string expect = c.expect;
  if (const auto at = expect.find("OUT"); at != std::string::npos) {
    expect.replace(at, 3, outside().string());
  }
  EXPECT_EQ(Seen(rootfs / c.path), expect) << c.name;
  EXPECT_EQ(Seen(rootfs / "bin/app"), "file:app") << c.name;
}

std::vector<Param> Params() {
  std::vector<Param> out;
  for (const auto& s : Stacks()) {
    for (Kind kind : {Kind::kHardlink, Kind::kOverlay}) {
      for (bool writable : {false, true}) {
        out.push_back({s, kind, writable});
      }
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Stacks, HostileStackTest, ::testing::ValuesIn(Params()),
                         [](const auto& param_info) {
                           const Param& p = param_info.param;
                           return p.stack.name +
                                  (p.kind == Kind::kOverlay ? "_Overlay" : "_Hardlink") +
                                  (p.writable ? "_Writable" : "_ReadOnly");
                         });

}  // namespace
}  // namespace ferry::engine
