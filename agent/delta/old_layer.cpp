#include <filesystem>
#include <system_error>

#include "ferry/delta/delta.hpp"
#include "header.hpp"
#include "input_file.hpp"
#include "tar_scan.hpp"

namespace ferry::delta {

Result<OldLayer> LoadOldLayer(const std::filesystem::path& path) {
  std::error_code ec;
  OldLayer layer;
  if (std::filesystem::is_directory(path, ec)) {
    std::filesystem::recursive_directory_iterator it(path, ec), end;
    if (ec) {
      return Fail(SystemError("listing " + path.string(), ec));
    }
    for (; it != end; it.increment(ec)) {
      if (ec) {
        return Fail(SystemError("listing " + path.string(), ec));
      }
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) {
        continue;
      }
      auto data = ReadInputFile(it->path());
      if (!data) {
        return Fail(data.error());
      }
      layer.files.emplace(std::filesystem::relative(it->path(), path).generic_string(),
                          std::move(*data));
    }
    return layer;
  }
  auto tar = ReadInputFile(path);
  if (!tar) {
    return Fail(tar.error());
  }
  layer.tar_sha256 = Sha256Of(tar->data(), tar->size());
  TarScan scan = ScanTar(*tar);
  for (const TarRegion& r : scan.regions) {
    if (r.is_content && !r.path.empty()) {
      layer.files[r.path] = tar->substr(r.offset, r.size);
    }
  }
  for (const auto& [name, target] : scan.hardlinks) {
    if (auto found = layer.files.find(target); found != layer.files.end() && !name.empty()) {
      std::string copy = found->second;
      layer.files[name] = std::move(copy);
    }
  }
  return layer;
}

}  // namespace ferry::delta
