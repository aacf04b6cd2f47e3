#include "input_file.hpp"

#include <fstream>
#include <iterator>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {

Result<std::string> ReadInputFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(DeltaErrc::kBadInput, "cannot open " + path.string());
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return Fail(DeltaErrc::kBadInput, "cannot read " + path.string());
  }
  return data;
}

}  // namespace ferry::delta
