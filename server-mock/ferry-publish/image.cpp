#include "image.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <vector>

#include "ferry/core/fs.hpp"
#include "ferry/manifest/manifest.hpp"
#include "files.hpp"

namespace ferry::publish {

namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

using ReadArchive = std::unique_ptr<archive, decltype(&archive_read_free)>;
using WriteArchive = std::unique_ptr<archive, decltype(&archive_write_free)>;
using Entry = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

// Writes every byte of the (possibly compressed) stream at `in` to `out`, decompressed.
Status Decompress(const stdfs::path& in, const stdfs::path& out) {
  ReadArchive a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_filename(a.get(), in.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Fail(Errc::kInvalidArgument, in.string() + ": " + ArchiveError(a.get()));
  }
  archive_entry* entry = nullptr;
  if (archive_read_next_header(a.get(), &entry) != ARCHIVE_OK) {
    return Fail(Errc::kInvalidArgument, in.string() + ": " + ArchiveError(a.get()));
  }
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fail(ErrnoError("create " + out.string()));
  }
  std::vector<char> buf(1 << 20);
  Status st = Ok();
  while (st) {
    la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n < 0) {
      st = Fail(Errc::kInvalidArgument, in.string() + ": " + ArchiveError(a.get()));
      break;
    }
    if (n == 0) {
      break;
    }
    if (::write(fd, buf.data(), static_cast<std::size_t>(n)) != n) {
      st = Fail(ErrnoError("write " + out.string()));
    }
  }
  ::close(fd);
  return st;
}

Result<ImportedLayer> LayerFromCompressed(const stdfs::path& blob, const stdfs::path& work_dir,
                                          std::size_t index) {
  ImportedLayer layer;
  layer.tar = work_dir / ("layer-" + std::to_string(index) + ".tar");
  FERRY_TRY_STATUS(Decompress(blob, layer.tar), "layer " + std::to_string(index));
  auto hex = Sha256OfFile(layer.tar);
  if (!hex) {
    return Fail(hex.error());
  }
  layer.diff_id = "sha256:" + *hex;
  std::error_code ec;
  layer.size = stdfs::file_size(layer.tar, ec);
  return layer;
}

Result<json> ReadJsonFile(const stdfs::path& path) {
  auto bytes = fs::ReadFile(path, 16u << 20);
  if (!bytes) {
    return Fail(bytes.error());
  }
  json doc = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(Errc::kInvalidArgument, path.string() + ": not a JSON object");
  }
  return doc;
}

// Takes "config", "architecture" and checks rootfs.diff_ids of an image config against the layers.
Status ApplyImageConfig(const json& config, ImportedImage& image, const std::string& where) {
  if (auto it = config.find("config"); it != config.end() && it->is_object()) {
    image.config = *it;
  }
  if (auto it = config.find("architecture"); it != config.end() && it->is_string()) {
    image.architecture = it->get<std::string>();
  }
  auto rootfs = config.find("rootfs");
  if (rootfs == config.end() || !rootfs->is_object() || !rootfs->contains("diff_ids")) {
    return Ok();
  }
  const json& ids = (*rootfs)["diff_ids"];
  if (!ids.is_array() || ids.size() != image.layers.size()) {
    return Fail(Errc::kInvalidArgument, where + ": rootfs.diff_ids does not list one id per layer");
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].is_string() || ids[i].get<std::string>() != image.layers[i].diff_id) {
      return Fail(Errc::kInvalidArgument, where + ": layer " + std::to_string(i) + " has diff_id " +
                                              image.layers[i].diff_id +
                                              " but the image config says " + ids[i].dump());
    }
  }
  return Ok();
}

// Reads the image config found at `config_path` and applies it to `image`; a mismatch names the
// image at `source`.
Status ApplyImageConfigFile(const Result<stdfs::path>& config_path, ImportedImage& image,
                            const stdfs::path& source) {
  if (!config_path) {
    return Fail(config_path.error());
  }
  auto config = ReadJsonFile(*config_path);
  if (!config) {
    return Fail(config.error());
  }
  FERRY_TRY_STATUS(ApplyImageConfig(*config, image, "image config"), source.string());
  return Ok();
}

// --- OCI image layout ---

Result<stdfs::path> OciBlob(const stdfs::path& layout, const json& descriptor,
                            const std::string& what) {
  if (!descriptor.is_object() || !descriptor.contains("digest") ||
      !descriptor["digest"].is_string()) {
    return Fail(Errc::kInvalidArgument, what + ": descriptor without a digest");
  }
  const std::string digest = descriptor["digest"].get<std::string>();
  if (!manifest::IsSha256Digest(digest)) {
    return Fail(Errc::kInvalidArgument, what + ": unsupported digest '" + digest + "'");
  }
  const stdfs::path path = layout / "blobs" / "sha256" / digest.substr(7);
  auto hex = Sha256OfFile(path);
  if (!hex) {
    return Fail(hex.error().WithContext(what));
  }
  if ("sha256:" + *hex != digest) {
    return Fail(Errc::kInvalidArgument, what + ": blob " + digest + " has sha256 " + *hex);
  }
  return path;
}

Result<json> PickManifest(const stdfs::path& layout, const json& index, const std::string& tag,
                          int depth) {
  const json* list = index.contains("manifests") ? &index["manifests"] : nullptr;
  if (list == nullptr || !list->is_array() || list->empty()) {
    return Fail(Errc::kInvalidArgument, layout.string() + ": index lists no manifests");
  }
  std::vector<const json*> candidates;
  for (const json& m : *list) {
    std::string ref;
    if (m.is_object() && m.contains("annotations") && m["annotations"].is_object()) {
      ref = m["annotations"].value("org.opencontainers.image.ref.name", "");
    }
    if (tag.empty() || ref == tag) {
      candidates.push_back(&m);
    }
  }
  if (candidates.empty()) {
    return Fail(Errc::kNotFound, layout.string() + ": no manifest tagged '" + tag + "'");
  }
  if (candidates.size() > 1) {
    return Fail(Errc::kInvalidArgument, layout.string() +
                                            ": index.json lists several manifests; name one "
                                            "as DIR:TAG");
  }
  auto path = OciBlob(layout, *candidates.front(), "manifest");
  if (!path) {
    return Fail(path.error());
  }
  auto doc = ReadJsonFile(*path);
  if (!doc) {
    return Fail(doc.error());
  }
  if (doc->contains("manifests")) {  // an image index (multi-platform): one level down
    if (depth > 0) {
      return Fail(Errc::kInvalidArgument, layout.string() + ": nested image indexes");
    }
    return PickManifest(layout, *doc, "", depth + 1);
  }
  return doc;
}

Result<ImportedImage> ImportOci(const stdfs::path& layout, const std::string& tag,
                                const stdfs::path& work_dir) {
  auto index = ReadJsonFile(layout / "index.json");
  if (!index) {
    return Fail(index.error());
  }
  auto manifest = PickManifest(layout, *index, tag, 0);
  if (!manifest) {
    return Fail(manifest.error());
  }
  ImportedImage image;
  const json& layers = (*manifest)["layers"];
  if (!layers.is_array()) {
    return Fail(Errc::kInvalidArgument, layout.string() + ": manifest has no layers list");
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto blob = OciBlob(layout, layers[i], "layer " + std::to_string(i));
    if (!blob) {
      return Fail(blob.error());
    }
    auto layer = LayerFromCompressed(*blob, work_dir, i);
    if (!layer) {
      return Fail(layer.error());
    }
    image.layers.push_back(std::move(*layer));
  }
  if (auto st = ApplyImageConfigFile(OciBlob(layout, (*manifest)["config"], "image config"), image,
                                     layout);
      !st) {
    return Fail(st.error());
  }
  return image;
}

// --- docker save ---

bool SafeRelative(const std::string& name) {
  if (name.empty() || name.front() == '/') {
    return false;
  }
  for (const auto& part : stdfs::path(name)) {
    if (part == "..") {
      return false;
    }
  }
  return true;
}

Result<ImportedImage> ImportDockerSave(const stdfs::path& tarball, const stdfs::path& work_dir) {
  const stdfs::path root = work_dir / "docker-save";
  FERRY_TRY_STATUS(fs::MakeDirs(root), "unpacking " + tarball.string());
  ReadArchive a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), tarball.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Fail(Errc::kInvalidArgument, tarball.string() + ": " + ArchiveError(a.get()));
  }
  std::map<std::string, std::string> links;  // symlinked layer tars of older docker versions
  archive_entry* entry = nullptr;
  while (true) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r != ARCHIVE_OK) {
      return Fail(Errc::kInvalidArgument,
                  tarball.string() + ": not a docker save tarball: " + ArchiveError(a.get()));
    }
    std::string name = archive_entry_pathname(entry);
    while (name.starts_with("./")) {
      name = name.substr(2);
    }
    if (!SafeRelative(name)) {
      return Fail(Errc::kInvalidArgument, tarball.string() + ": unsafe entry name " + name);
    }
    if (archive_entry_filetype(entry) == AE_IFLNK) {
      links[name] = (stdfs::path(name).parent_path() / archive_entry_symlink(entry))
                        .lexically_normal()
                        .string();
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) {
      continue;
    }
    const stdfs::path out = root / name;
    FERRY_TRY_STATUS(fs::MakeDirs(out.parent_path()), "unpacking " + name);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Fail(ErrnoError("create " + out.string()));
    }
    int rr = archive_read_data_into_fd(a.get(), fd);
    ::close(fd);
    if (rr != ARCHIVE_OK) {
      return Fail(Errc::kInvalidArgument, tarball.string() + ": " + ArchiveError(a.get()));
    }
  }
  auto resolve = [&](std::string name) -> Result<stdfs::path> {
    for (int i = 0; i < 8 && links.contains(name); ++i) {
      name = links[name];
    }
    if (!SafeRelative(name)) {
      return Fail(Errc::kInvalidArgument, tarball.string() + ": unsafe path " + name);
    }
    return root / name;
  };
  auto top = ReadJsonFile(root / "manifest.json");
  if (!top.has_value()) {
    // ReadJsonFile refuses arrays; docker writes manifest.json as an array.
    auto bytes = fs::ReadFile(root / "manifest.json", 16u << 20);
    if (!bytes) {
      return Fail(Errc::kInvalidArgument,
                  tarball.string() + ": not a docker save tarball (no manifest.json)");
    }
    json doc = json::parse(*bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].is_object()) {
      return Fail(Errc::kInvalidArgument, tarball.string() + ": manifest.json is malformed");
    }
    top = doc[0];
  }
  const json& m = *top;
  if (!m.contains("Config") || !m["Config"].is_string() || !m.contains("Layers") ||
      !m["Layers"].is_array()) {
    return Fail(Errc::kInvalidArgument, tarball.string() + ": manifest.json lacks Config/Layers");
  }
  ImportedImage image;
  for (std::size_t i = 0; i < m["Layers"].size(); ++i) {
    const json& l = m["Layers"][i];
    if (!l.is_string()) {
      return Fail(Errc::kInvalidArgument, tarball.string() + ": Layers holds a non-string");
    }
    auto path = resolve(l.get<std::string>());
    if (!path) {
      return Fail(path.error());
    }
    auto layer = LayerFromCompressed(*path, work_dir, i);
    if (!layer) {
      return Fail(layer.error());
    }
    image.layers.push_back(std::move(*layer));
  }
  if (auto st = ApplyImageConfigFile(resolve(m["Config"].get<std::string>()), image, tarball);
      !st) {
    return Fail(st.error());
  }
  return image;
}

// --- root filesystem directory ---

struct TarWriter {
  TarWriter(archive* ar, std::optional<Owner> forced) : a(ar), owner(forced) {}
  archive* a;
  std::optional<Owner> owner;
  std::map<std::pair<dev_t, ino_t>, std::string> first_names;
  std::vector<char> buf = std::vector<char>(1 << 20);

  Status Fail(const std::string& what) {
    return ferry::Fail(Errc::kIo, what + ": " + ArchiveError(a));
  }

  Status Add(const stdfs::path& abs, const std::string& rel) {
    struct stat st {};
    if (::lstat(abs.c_str(), &st) != 0) {
      return ferry::Fail(ErrnoError("lstat " + abs.string()));
    }
    if (S_ISSOCK(st.st_mode)) {
      return Ok();
    }
    Entry e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), owner ? owner->uid : st.st_uid);
    archive_entry_set_gid(e.get(), owner ? owner->gid : st.st_gid);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    bool copy_data = false;
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      const auto target = stdfs::read_symlink(abs, ec);
      if (ec) {
        return ferry::Fail(SystemError("readlink " + abs.string(), ec));
      }
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      archive_entry_set_rdev(e.get(), st.st_rdev);
    } else if (S_ISREG(st.st_mode)) {
      const auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = st.st_nlink > 1 ? first_names.find(key) : first_names.end();
      if (it != first_names.end()) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
      } else {
        if (st.st_nlink > 1) {
          first_names.emplace(key, rel);
        }
        archive_entry_set_size(e.get(), st.st_size);
        copy_data = st.st_size > 0;
      }
    }
    if (archive_write_header(a, e.get()) != ARCHIVE_OK) {
      return Fail("tar header of " + rel);
    }
    if (copy_data) {
      int fd = ::open(abs.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) {
        return ferry::Fail(ErrnoError("open " + abs.string()));
      }
      off_t left = st.st_size;
      while (left > 0) {
        ssize_t n = ::read(fd, buf.data(),
                           std::min<std::size_t>(buf.size(), static_cast<std::size_t>(left)));
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          ::close(fd);
          return ferry::Fail(Errc::kIo, abs.string() + ": changed while being read");
        }
        if (archive_write_data(a, buf.data(), static_cast<std::size_t>(n)) != n) {
          ::close(fd);
          return Fail("tar data of " + rel);
        }
        left -= n;
      }
      ::close(fd);
    }
    if (S_ISDIR(st.st_mode)) {
      return Walk(abs, rel + "/");
    }
    return Ok();
  }

  Status Walk(const stdfs::path& dir, const std::string& prefix) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
      names.push_back(entry.path().filename().string());
    }
    if (ec) {
      return ferry::Fail(SystemError("listing " + dir.string(), ec));
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      FERRY_TRY_STATUS(Add(dir / name, prefix + name), "archiving " + dir.string());
    }
    return Ok();
  }
};

Result<ImportedImage> ImportRootfs(const stdfs::path& dir, const stdfs::path& work_dir,
                                   std::optional<Owner> owner) {
  ImportedLayer layer;
  layer.tar = work_dir / "layer-0.tar";
  FERRY_TRY_STATUS(WriteTreeTar(dir, layer.tar, owner), dir.string());
  auto hex = Sha256OfFile(layer.tar);
  if (!hex) {
    return Fail(hex.error());
  }
  layer.diff_id = "sha256:" + *hex;
  std::error_code ec;
  layer.size = stdfs::file_size(layer.tar, ec);
  ImportedImage image;
  image.layers.push_back(std::move(layer));
  return image;
}

}  // namespace

Result<LayerFigures> CountLayerTar(const stdfs::path& path) {
  ReadArchive a(archive_read_new(), archive_read_free);
  if (!a) {
    return Fail(Errc::kIo, "cannot allocate a tar reader");
  }
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Fail(Errc::kInvalidArgument, path.string() + ": " + ArchiveError(a.get()));
  }
  LayerFigures figures;
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Fail(Errc::kInvalidArgument, path.string() + ": after entry " +
                                              std::to_string(figures.entries) + ": " +
                                              ArchiveError(a.get()));
    }
    ++figures.entries;
    if (archive_entry_hardlink(e) == nullptr && archive_entry_filetype(e) == AE_IFREG &&
        archive_entry_size(e) > 0) {
      figures.unpacked_size += static_cast<std::uint64_t>(archive_entry_size(e));
    }
  }
  return figures;
}

Status WriteTreeTar(const stdfs::path& root, const stdfs::path& out, std::optional<Owner> owner) {
  WriteArchive a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_per_block(a.get(), 10240);
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open_filename(a.get(), out.c_str()) != ARCHIVE_OK) {
    return Fail(Errc::kIo, out.string() + ": " + ArchiveError(a.get()));
  }
  TarWriter writer(a.get(), owner);
  FERRY_TRY_STATUS(writer.Walk(root, ""), "writing " + out.string());
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Fail(Errc::kIo, out.string() + ": " + ArchiveError(a.get()));
  }
  return Ok();
}

Result<ImportedImage> ImportImage(const std::string& source, const stdfs::path& work_dir,
                                  std::optional<Owner> rootfs_owner) {
  std::error_code ec;
  stdfs::path path = source;
  std::string tag;
  if (!stdfs::exists(path, ec)) {
    if (const auto colon = source.rfind(':');
        colon != std::string::npos && stdfs::exists(source.substr(0, colon), ec)) {
      path = source.substr(0, colon);
      tag = source.substr(colon + 1);
    } else {
      return Fail(Errc::kNotFound, "image " + source + " does not exist");
    }
  }
  if (stdfs::is_directory(path, ec)) {
    if (stdfs::exists(path / "index.json", ec) && stdfs::exists(path / "oci-layout", ec)) {
      return ImportOci(path, tag, work_dir);
    }
    if (!tag.empty()) {
      return Fail(Errc::kInvalidArgument, path.string() + " is not an OCI layout; no tags");
    }
    return ImportRootfs(path, work_dir, rootfs_owner);
  }
  if (stdfs::is_regular_file(path, ec)) {
    return ImportDockerSave(path, work_dir);
  }
  return Fail(Errc::kInvalidArgument,
              source + " is neither a directory, an OCI layout nor a docker save tarball");
}

}  // namespace ferry::publish
