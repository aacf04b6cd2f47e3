#include "bounded_leg.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "agent/engine/rootfs.hpp"
#include "ferry/layers/extract.hpp"
#include "layer_generator.hpp"

namespace ferry::bench {
namespace {

namespace fs = std::filesystem;

// This process's resident set now, in MB: the floor every child starts from.
double SelfRssMb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) {
      return std::stod(line.substr(6)) / 1024.0;
    }
  }
  return 0;
}

// Stages `blob` as Engine::StageLayer does with a full blob.
Measure StageAsTheEngine(const fs::path& blob, const fs::path& layers_dir,
                         const GeneratedLayer& layer) {
  RemoveAll(layers_dir);  // the tree of the run before: a million files take a while
  ::sync();
  return RunChild([&] {
    layers::ExtractPolicy policy = layers::ExtractPolicy::ForCurrentProcess();
    policy.whiteouts = layers::WhiteoutMode::kList;
    policy.max_tar_bytes = layer.tar_bytes;
    policy.declared_entries = layer.entries;
    policy.declared_unpacked_size = layer.file_bytes;
    layers::FileSource file(blob);
    layers::ZstdSource tar(file);
    auto staged = layers::StageLayer(tar, layers_dir, layer.diff_id, policy);
    if (!staged) {
      std::fprintf(stderr, "stage: %s\n", staged.error().message().c_str());
      return 1;
    }
    return staged->entries == layer.entries ? 0 : 3;
  });
}

// Builds a revision's root filesystem from `stack` as the engine does for a release whose layers
// delete files (a hardlink farm): the stack check first, then the assembly.
Measure AssembleAsTheEngine(const std::vector<engine::RootfsLayer>& stack, const fs::path& rootfs) {
  RemoveAll(rootfs);  // the farm of the run before
  ::sync();
  return RunChild([&] {
    if (auto st = engine::CheckLayerStack(stack); !st) {
      std::fprintf(stderr, "check: %s\n", st.error().message().c_str());
      return 1;
    }
    if (auto st = engine::AssembleRootfs(stack, rootfs, /*copy_files=*/false); !st) {
      std::fprintf(stderr, "assemble: %s\n", st.error().message().c_str());
      return 2;
    }
    return 0;
  });
}

}  // namespace

bool RunBoundedLeg(const fs::path& dir, std::uint64_t zero_bytes, int runs, bool assembly_only,
                   BoundedLegResult* result) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path layers_dir = dir / "layers";
  struct Case {
    Row* row;
    fs::path blob;
    GeneratedLayer layer;
  };
  Case cases[] = {{&result->many_files, dir / "many.tar.zst", {}},
                  {&result->zero_bomb, dir / "zeros.tar.zst", {}},
                  {&result->many_whiteouts, dir / "whiteouts.tar.zst", {}},
                  {&result->many_dirs, dir / "dirs.tar.zst", {}}};
  // Generated in children: the compressor's memory, freed but kept by malloc, would otherwise be
  // resident in this process and in every child it forks, and hide what staging allocates.
  const auto generate = [&](Case& c, const std::function<bool(GeneratedLayer*)>& make) {
    const fs::path figures = c.blob.string() + ".figures";
    const Measure m = RunChild([&] {
      GeneratedLayer layer;
      if (!make(&layer)) {
        return 1;
      }
      std::ofstream out(figures);
      out << layer.diff_id << ' ' << layer.tar_bytes << ' ' << layer.blob_bytes << ' '
          << layer.files << ' ' << layer.entries << ' ' << layer.file_bytes << '\n';
      return out.good() ? 0 : 1;
    });
    std::ifstream in(figures);
    return m.status == 0 &&
           static_cast<bool>(in >> c.layer.diff_id >> c.layer.tar_bytes >> c.layer.blob_bytes >>
                             c.layer.files >> c.layer.entries >> c.layer.file_bytes);
  };
  const bool made =
      generate(cases[0],
               [&](GeneratedLayer* out) {
                 return GenerateManyFilesLayer(cases[0].blob, 1000, 999, out);
               }) &&
      (assembly_only || generate(cases[1],
                                 [&](GeneratedLayer* out) {
                                   return GenerateZeroBomb(cases[1].blob, zero_bytes, out);
                                 })) &&
      generate(cases[2],
               [&](GeneratedLayer* out) {
                 return GenerateManyWhiteoutsLayer(cases[2].blob, 1000, 1000, out);
               }) &&
      generate(cases[3], [&](GeneratedLayer* out) {
        return GenerateManyDirectoriesLayer(cases[3].blob, 1000, 999, out);
      });
  if (!made) {
    std::fprintf(stderr, "cannot generate the bounded leg's layers\n");
    return false;
  }
  for (const Case& c : cases) {
    if (c.layer.diff_id.empty()) {
      continue;  // not made (assembly_only)
    }
    std::printf("%s: %llu entries, tar %.1f MB, blob %.3f MB\n", c.row->name.c_str(),
                static_cast<unsigned long long>(c.layer.entries),
                static_cast<double>(c.layer.tar_bytes) / 1048576.0,
                static_cast<double>(c.layer.blob_bytes) / 1048576.0);
  }
  std::printf("bench process before each fork: %.1f MB resident (counted in each child's peak)\n",
              SelfRssMb());
  for (int run = 0; run < runs && !assembly_only; ++run) {
    for (Case& c : cases) {
      c.row->runs.push_back(StageAsTheEngine(c.blob, layers_dir, c.layer));
      const Measure& m = c.row->runs.back();
      std::printf("  %s: %.2fs, peak RSS %.1f MB%s\n", c.row->name.c_str(), m.seconds,
                  static_cast<double>(m.peak_rss_kb) / 1024.0, m.status == 0 ? "" : " (FAILED)");
    }
  }
  RemoveAll(layers_dir);
  // The stack: the million-files layer, then the million-whiteouts layer, which whites out each
  // of its files (and a thousand more, which hide nothing). Each is staged into a layers folder of
  // its own, so that staging one does not remove the other.
  std::vector<engine::RootfsLayer> stack;
  for (const Case* c : {&cases[0], &cases[2]}) {
    const fs::path store = dir / ("stack-" + std::to_string(stack.size()));
    if (StageAsTheEngine(c->blob, store, c->layer).status != 0) {
      std::fprintf(stderr, "cannot stage the stack's layer %s\n", c->layer.diff_id.c_str());
      return false;
    }
    const std::string hex = c->layer.diff_id.substr(7);
    stack.push_back({store / hex, store / (hex + ".whiteouts")});
  }
  const fs::path dirs_store = dir / "stack-dirs";
  if (StageAsTheEngine(cases[3].blob, dirs_store, cases[3].layer).status != 0) {
    std::fprintf(stderr, "cannot stage the layer %s\n", cases[3].layer.diff_id.c_str());
    return false;
  }
  const std::string dirs_hex = cases[3].layer.diff_id.substr(7);
  std::vector<engine::RootfsLayer> dirs_stack{
      {dirs_store / dirs_hex, dirs_store / (dirs_hex + ".whiteouts")}};
  for (int run = 0; run < runs; ++run) {
    for (auto [row, layers] :
         {std::pair{&result->assembly, &stack}, std::pair{&result->assembly_dirs, &dirs_stack}}) {
      row->runs.push_back(AssembleAsTheEngine(*layers, dir / "rootfs"));
      const Measure& m = row->runs.back();
      std::printf("  %s: %.2fs, peak RSS %.1f MB%s\n", row->name.c_str(), m.seconds,
                  static_cast<double>(m.peak_rss_kb) / 1024.0, m.status == 0 ? "" : " (FAILED)");
    }
  }
  RemoveAll(dir / "rootfs");
  RemoveAll(dir / "stack-0");
  RemoveAll(dir / "stack-1");
  RemoveAll(dirs_store);
  for (const Case& c : cases) {
    RemoveAll(c.blob);
  }
  return true;
}

void PrintBoundedLeg(const BoundedLegResult& result) {
  for (const auto& [row, name] : result.Rows()) {
    if (!row->runs.empty()) {
      PrintRow(*row);
    }
  }
  for (const auto& [row, name] : result.Rows()) {
    if (row->runs.empty()) {
      continue;
    }
    const bool assembly = row == &result.assembly || row == &result.assembly_dirs;
    const double rss = row->PeakRssMb();
    std::printf("bounded, %s: %s, median %.2fs, %s peak RSS %.1f MB (goal <= %.0f MB: %s)\n", name,
                !row->Ok() ? "FAILED" : (assembly ? "assembled" : "staged"), row->Median(),
                assembly ? "assembly" : "staging", rss, kGoalStagingRssMb,
                row->Ok() && rss <= kGoalStagingRssMb ? "met" : "MISSED");
  }
}

}  // namespace ferry::bench
