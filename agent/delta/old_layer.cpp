#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <memory>
#include <system_error>
#include <thread>

#include "ferry/core/unique_fd.hpp"
#include "ferry/delta/delta.hpp"
#include "input_file.hpp"
#include "mapped_file.hpp"
#include "tar_scan.hpp"

namespace ferry::delta {
namespace {

std::uint64_t ContentHash(std::string_view content) {
  return std::hash<std::string_view>{}(content);
}

Result<OldLayer> LoadDirectory(const std::filesystem::path& path) {
  std::error_code ec;
  OldLayer layer;
  layer.source = path;
  layer.is_directory = true;
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
                        OldFile{0, data->size(), ContentHash(*data)});
  }
  return layer;
}

Result<OldLayer> LoadTar(const std::filesystem::path& path) {
  auto map = MappedFile::Open(path);
  if (!map) {
    return Fail(map.error());
  }
  std::string_view tar = map->view();
  OldLayer layer;
  layer.source = path;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  TarScan scan = ScanTar(tar);
  // One pass front to back, handing pages back behind it: the tar is never resident whole.
  for (const TarRegion& r : scan.regions) {
    std::string_view bytes = tar.substr(r.offset, r.size);
    EVP_DigestUpdate(sha.get(), bytes.data(), bytes.size());
    if (r.is_content && !r.path.empty()) {
      layer.files[r.path] = OldFile{r.offset, r.size, ContentHash(bytes)};
    }
    map->ReleaseBelow(r.offset + r.size);
  }
  unsigned int len = 0;
  EVP_DigestFinal_ex(sha.get(), layer.tar_sha256.data(), &len);
  for (const auto& [name, target] : scan.hardlinks) {
    if (auto found = layer.files.find(target); found != layer.files.end() && !name.empty()) {
      OldFile copy = found->second;
      layer.files[name] = copy;
    }
  }
  return layer;
}

}  // namespace

Result<OldLayer> LoadOldLayer(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return LoadDirectory(path);
  }
  return LoadTar(path);
}

Result<std::string> ReadOldFile(const OldLayer& layer, const std::string& name,
                                const OldFile& file) {
  const std::filesystem::path path = layer.is_directory ? layer.source / name : layer.source;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(DeltaErrc::kBadInput, "cannot open old layer file " + path.string());
  }
  std::string out(file.size, '\0');
  std::uint64_t done = 0;
  while (done < file.size) {
    ssize_t n = ::pread(fd.get(), out.data() + done, file.size - done,
                        static_cast<off_t>(file.offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return Fail(DeltaErrc::kBadInput, "cannot read old file " + name + " from " + path.string());
    }
    done += static_cast<std::uint64_t>(n);
  }
  return out;
}

unsigned DefaultEncodeJobs() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace ferry::delta
