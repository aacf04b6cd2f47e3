#include "bounded_leg.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

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

}  // namespace

bool RunBoundedLeg(const fs::path& dir, std::uint64_t zero_bytes, int runs,
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
  if (!generate(cases[0],
                [&](GeneratedLayer* out) {
                  return GenerateManyFilesLayer(cases[0].blob, 1000, 999, out);
                }) ||
      !generate(
          cases[1],
          [&](GeneratedLayer* out) { return GenerateZeroBomb(cases[1].blob, zero_bytes, out); }) ||
      !generate(cases[2],
                [&](GeneratedLayer* out) {
                  return GenerateManyWhiteoutsLayer(cases[2].blob, 1000, 1000, out);
                }) ||
      !generate(cases[3], [&](GeneratedLayer* out) {
        return GenerateManyDirectoriesLayer(cases[3].blob, 1000, 999, out);
      })) {
    std::fprintf(stderr, "cannot generate the bounded leg's layers\n");
    return false;
  }
  for (const Case& c : cases) {
    std::printf("%s: %llu entries, tar %.1f MB, blob %.3f MB\n", c.row->name.c_str(),
                static_cast<unsigned long long>(c.layer.entries),
                static_cast<double>(c.layer.tar_bytes) / 1048576.0,
                static_cast<double>(c.layer.blob_bytes) / 1048576.0);
  }
  std::printf("bench process before each fork: %.1f MB resident (counted in each child's peak)\n",
              SelfRssMb());
  for (int run = 0; run < runs; ++run) {
    for (Case& c : cases) {
      c.row->runs.push_back(StageAsTheEngine(c.blob, layers_dir, c.layer));
      const Measure& m = c.row->runs.back();
      std::printf("  %s: %.2fs, peak RSS %.1f MB%s\n", c.row->name.c_str(), m.seconds,
                  static_cast<double>(m.peak_rss_kb) / 1024.0, m.status == 0 ? "" : " (FAILED)");
    }
  }
  RemoveAll(layers_dir);
  for (const Case& c : cases) {
    RemoveAll(c.blob);
  }
  return true;
}

void PrintBoundedLeg(const BoundedLegResult& result) {
  for (const auto& [row, name] : result.Rows()) {
    PrintRow(*row);
  }
  for (const auto& [row, name] : result.Rows()) {
    const double rss = row->PeakRssMb();
    std::printf("bounded, %s: %s, median %.2fs, staging peak RSS %.1f MB (goal <= %.0f MB: %s)\n",
                name, row->Ok() ? "staged" : "FAILED", row->Median(), rss, kGoalStagingRssMb,
                row->Ok() && rss <= kGoalStagingRssMb ? "met" : "MISSED");
  }
}

}  // namespace ferry::bench
