// Random stacks of two and three layers from a small alphabet of names and types (files,
// directories, symlinks to the host, upwards and sideways, whiteouts and opaque markers), assembled
// as a hardlink farm, linked and copied. Each must come out exactly as overlayfs would show it (a
// model below), and a sentinel tree outside must not change. The seeds are fixed, so a failure
// names a seed that reproduces it. CI runs seeds 1 to 64; longer by hand:
//   FERRY_ROOTFS_FIRST_SEED=1000 FERRY_ROOTFS_SEEDS=20000
//   build/dev/tests/unit/engine/engine_test --gtest_filter='RootfsGenerator.*'
// (the two lines one command).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "ferry/core/fs.hpp"
#include "rootfs.hpp"
#include "support/temp_dir.hpp"

namespace ferry::engine {
namespace {

namespace stdfs = std::filesystem;

// What overlayfs shows at a path: "d" a directory, "f:<content>" a file, "l:<target>" a symlink.
using Model = std::map<std::string, std::string>;

bool IsBelow(const std::string& path, const std::string& dir) {
  return dir.empty() || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

void EraseSubtree(Model& m, const std::string& path, bool keep_top) {
  for (auto it = m.begin(); it != m.end();) {
    if ((!keep_top && it->first == path) || IsBelow(it->first, path)) {
      it = m.erase(it);
    } else {
      ++it;
    }
  }
}

std::string Parent(const std::string& p) {
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

// Every ancestor of `p` is a real directory of the model (or `p` is at the top).
bool ReachableInModel(const Model& m, const std::string& p) {
  for (std::string a = Parent(p); !a.empty(); a = Parent(a)) {
    const auto it = m.find(a);
    if (it == m.end() || it->second != "d") {
      return false;
    }
  }
  return true;
}

struct GenLayer {
  Model entries;                   // what the layer's directory holds
  std::vector<std::string> white;  // whiteout list, as the extractor writes it
};

GenLayer Generate(std::mt19937& rng, const std::string& outside) {
  static const std::vector<std::string> kPaths = {"a", "b", "a/a", "a/b", "b/a", "a/a/a", "a/b/c"};
  static const std::vector<std::string> kTargets = {
      outside, outside + "/sub", "../../../..", "a", "/", "b/a"};
  GenLayer layer;
  const int n = std::uniform_int_distribution<int>(1, 5)(rng);
  for (int i = 0; i < n; ++i) {
    const std::string& p = kPaths[rng() % kPaths.size()];
    // The layer's own tree: ancestors are directories of this layer.
    bool blocked = false;
    for (std::string a = Parent(p); !a.empty(); a = Parent(a)) {
      const auto it = layer.entries.find(a);
      blocked |= it != layer.entries.end() && it->second != "d";
    }
    if (blocked || layer.entries.contains(p)) {
      continue;
    }
    for (std::string a = Parent(p); !a.empty(); a = Parent(a)) {
      layer.entries[a] = "d";
    }
    switch (rng() % 6) {
      case 0:
      case 1:
        layer.entries[p] = "d";
        break;
      case 2:
        layer.entries[p] = "f:" + std::to_string(rng() % 100);
        break;
      case 3:
        layer.entries[p] = "l:" + kTargets[rng() % kTargets.size()];
        break;
      case 4:
        // A whiteout of `p`: its parent is a directory of the layer, as the extractor makes it.
        layer.white.push_back(p);
        break;
      default:
        layer.white.push_back(p + "/.wh..wh..opq");
        layer.entries[p] = "d";
        break;
    }
  }
  return layer;
}

void Apply(Model& m, const GenLayer& layer) {
  for (const auto& w : layer.white) {
    constexpr std::string_view kOpq = "/.wh..wh..opq";
    if (w.ends_with(kOpq)) {
      const std::string dir = w.substr(0, w.size() - kOpq.size());
      const auto it = m.find(dir);
      if (ReachableInModel(m, dir) && it != m.end() && it->second == "d") {
        EraseSubtree(m, dir, /*keep_top=*/true);
      }
    } else if (ReachableInModel(m, w)) {
      EraseSubtree(m, w, /*keep_top=*/false);
    }
  }
  // Parents before children: std::map orders "a" before "a/b".
  for (const auto& [path, what] : layer.entries) {
    const auto it = m.find(path);
    if (it != m.end() && !(it->second == "d" && what == "d")) {
      EraseSubtree(m, path, /*keep_top=*/false);
    }
    m[path] = what;
  }
}

void Materialize(const stdfs::path& dir, const GenLayer& layer) {
  stdfs::create_directories(dir);
  for (const auto& [path, what] : layer.entries) {
    if (what == "d") {
      stdfs::create_directories(dir / path);
    } else if (what.starts_with("f:")) {
      std::ofstream(dir / path) << what.substr(2);
    } else {
      stdfs::create_symlink(what.substr(2), dir / path);
    }
  }
}

Model Observe(const stdfs::path& root) {
  Model out;
  for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::end(it); ++it) {
    const std::string rel = it->path().lexically_relative(root).string();
    const auto st = stdfs::symlink_status(it->path());
    if (stdfs::is_symlink(st)) {
      out[rel] = "l:" + stdfs::read_symlink(it->path()).string();
    } else if (stdfs::is_directory(st)) {
      out[rel] = "d";
    } else {
      out[rel] = "f:" + *fs::ReadFile(it->path());
    }
  }
  return out;
}

std::map<std::string, std::string> Sentinel(const stdfs::path& root) {
  std::map<std::string, std::string> out;
  std::vector<stdfs::path> paths{root};
  for (const auto& e : stdfs::recursive_directory_iterator(root)) {
    paths.push_back(e.path());
  }
  for (const auto& p : paths) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    out[p.string()] = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " " +
                      std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                      std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ctim.tv_sec) +
                      "." + std::to_string(st.st_ctim.tv_nsec);
  }
  return out;
}

std::uint32_t EnvOr(const char* name, std::uint32_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? static_cast<std::uint32_t>(std::stoul(v)) : fallback;
}

TEST(RootfsGenerator, RandomStacksComeOutAsOverlayfsWouldShowThemAndStayInside) {
  const std::uint32_t first = EnvOr("FERRY_ROOTFS_FIRST_SEED", 1);
  const std::uint32_t seeds = EnvOr("FERRY_ROOTFS_SEEDS", 64);
  ferry::testing::TempDir tmp;
  const stdfs::path outside = tmp / "outside";
  stdfs::create_directories(outside / "sub" / "a");
  std::ofstream(outside / "a") << "host";
  std::ofstream(outside / "sub" / "b") << "host";
  ::chmod((outside / "sub").c_str(), 0751);
  const auto before = Sentinel(outside);
  for (std::uint32_t seed = first; seed < first + seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const stdfs::path work = tmp / ("s" + std::to_string(seed));
    const int count = 2 + static_cast<int>(rng() % 2);
    std::vector<RootfsLayer> layers;
    Model model;
    for (int i = 0; i < count; ++i) {
      const GenLayer g = Generate(rng, outside.string());
      const stdfs::path dir = work / ("l" + std::to_string(i));
      Materialize(dir, g);
      std::string list;
      for (const auto& w : g.white) {
        list += w + '\0';
      }
      const stdfs::path white = work / ("l" + std::to_string(i) + ".whiteouts");
      std::ofstream(white, std::ios::binary) << list;
      layers.push_back({dir, white});
      Apply(model, g);
    }
    for (bool copy : {false, true}) {
      const stdfs::path rootfs = work / (copy ? "copied" : "linked");
      auto st = AssembleRootfs(layers, rootfs, copy);
      ASSERT_TRUE(st) << st.error().message();
      EXPECT_EQ(Observe(rootfs), model) << (copy ? "copied" : "linked");
    }
    ASSERT_EQ(Sentinel(outside), before);
    stdfs::remove_all(work);
  }
}

}  // namespace
}  // namespace ferry::engine
