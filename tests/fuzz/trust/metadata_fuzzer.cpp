// Fuzzes the strict JSON parser, canonical JSON and the TUF metadata parser.
//
// Build and run (clang 16 or newer: apt-get install clang-16 libclang-rt-16-dev):
//   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 \
//         -DCMAKE_C_COMPILER=clang-16 -DFERRY_BUILD_FUZZERS=ON -DFERRY_SANITIZE=address,undefined \
//         "-DCMAKE_CXX_FLAGS=-U__cpp_concepts -D__cpp_concepts=202002L
//         -Wno-builtin-macro-redefined"
// (clang 16 implements what libstdc++ 12's <expected> needs but still reports the C++20 concepts
// level as 201907, so <expected> would be empty without the define.)
//   cmake --build build/fuzz --target trust_metadata_fuzzer
//   mkdir -p /tmp/corpus && build/fuzz/tests/fuzz/trust/trust_metadata_fuzzer /tmp/corpus \
//         -max_len=65536 -max_total_time=600
// Seed the corpus with real metadata (for example a ferry-tuf-client metadata directory).
//
// Oracles beyond "no crash": the parser never accepts what its own writer cannot round-trip, and
// canonical JSON is a fixed point of parse + serialize.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ferry/trust/json.hpp"
#include "ferry/trust/metadata.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = ferry::trust::ParseJson(text);
  if (json) {
    const std::string canonical = ferry::trust::Canonicalize(*json);
    auto reparsed = ferry::trust::ParseJson(ferry::trust::Serialize(*json));
    if (!reparsed || ferry::trust::Canonicalize(*reparsed) != canonical) {
      std::abort();
    }
  }
  for (const char* type : {"root", "timestamp", "snapshot", "targets"}) {
    auto md = ferry::trust::ParseMetadata(text, type);
    if (md && md->canonical_signed.empty()) {
      std::abort();
    }
    if (md) {
      for (const auto& role : md->delegated_roles) {
        (void)role.IsDelegatedPath("a/b/c.txt");
      }
      if (md->succinct_roles && md->succinct_roles->RoleFor("a/b").empty()) {
        std::abort();
      }
    }
  }
  return 0;
}
