// The bounded leg of bench_stage: ferryd's peak memory while staging the hostile layers of issue
// #15: a million tiny files, a zero bomb (4 GiB of zeros in a blob of a few hundred KB), a million
// whiteouts and a million directories. Each layer is staged as the engine stages a full blob
// (FileSource, ZstdSource, StageLayer with the engine's policy and the figures the manifest
// declares), in a child process of its own, so the peak RSS printed is staging's alone. Then the
// million-files layer and the million-whiteouts layer above it (which whites out all its files)
// are assembled into a revision's root filesystem as the engine does for such a release
// (CheckLayerStack, then AssembleRootfs as a hardlink farm), again in a measured child, and so is
// the million-directories layer alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include "measure.hpp"

namespace ferry::bench {

inline constexpr double kGoalStagingRssMb = 32;

struct BoundedLegResult {
  Row many_files{"stage a million entries (1000 dirs of 999 one-byte files)", {}};
  Row zero_bomb{"stage a zero bomb (4 GiB of zeros, one file)", {}};
  Row many_whiteouts{"stage a million whiteouts (1000 dirs of 1000 whiteouts)", {}};
  Row many_dirs{"stage a million directories (1000 dirs of 999 empty dirs)", {}};
  Row assembly{"assemble a million files under a million whiteouts (check + hardlink farm)", {}};
  Row assembly_dirs{"assemble a million directories (check + hardlink farm)", {}};

  // Each row with the few words its verdict line names it by.
  std::vector<std::pair<const Row*, const char*>> Rows() const {
    return {{&many_files, "a million entries"},
            {&zero_bomb, "zero bomb"},
            {&many_whiteouts, "a million whiteouts"},
            {&many_dirs, "a million directories"},
            {&assembly, "assembly under a million whiteouts"},
            {&assembly_dirs, "assembly of a million directories"}};
  }
  bool Ok() const {
    for (const auto& [row, name] : Rows()) {
      if (!row->Ok()) {  // a row that did not run (assembly_only) has no failed run
        return false;
      }
    }
    return true;
  }
};

// Generates the layers in `dir`, stages each `runs` times, assembles the stack `runs` times, and
// prints their figures. `zero_bytes` is the size of the zero bomb's file. `assembly_only` makes
// only the layers assembled and runs only the assemblies. Returns false when a layer cannot
// be made or the stack's layers cannot be staged.
bool RunBoundedLeg(const std::filesystem::path& dir, std::uint64_t zero_bytes, int runs,
                   bool assembly_only, BoundedLegResult* result);

// Prints the leg's rows and verdicts ("… peak RSS X MB (goal <= 32 MB: met)"), skipping rows that
// did not run.
void PrintBoundedLeg(const BoundedLegResult& result);

}  // namespace ferry::bench
