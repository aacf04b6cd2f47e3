// layers_stage_helper TAR LAYERS_DIR DIFF_ID: stages one layer file, so crash tests can kill a
// real process at a named crash point (FERRY_CRASHPOINT) and look at what it left behind.
#include <cstdio>

#include "ferry/layers/extract.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: layers_stage_helper TAR LAYERS_DIR DIFF_ID\n");
    return 2;
  }
  ferry::layers::ExtractPolicy policy = ferry::layers::ExtractPolicy::ForCurrentProcess();
  policy.whiteouts = ferry::layers::WhiteoutMode::kList;
  ferry::layers::FileSource source(argv[1]);
  auto result = ferry::layers::StageLayer(source, argv[2], argv[3], policy);
  if (!result) {
    std::fprintf(stderr, "%s\n", result.error().message().c_str());
    return 1;
  }
  std::printf("%s\n", result->digest.c_str());
  return 0;
}
