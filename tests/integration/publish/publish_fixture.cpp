#include "publish_fixture.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>

#include "ferry/layers/extract.hpp"
#include "ferry/trust/crypto.hpp"

namespace ferry::publish::testing {

namespace stdfs = std::filesystem;

ferry::testing::RunResult Publish(const std::vector<std::string>& args) {
  std::vector<std::string> argv{ferry::testing::BuiltProgram("ferry-publish").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return ferry::testing::Run(argv);
}

void WriteFile(const stdfs::path& path, const std::string& content) {
  stdfs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFile(const stdfs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void MakeRootfs(const stdfs::path& dir, int variant) {
  std::mt19937 rng(42);
  std::string app(256 * 1024, '\0');
  for (auto& c : app) {
    c = static_cast<char>(rng() & 0xff);
  }
  // A change in the middle and a grown tail: what a patch release looks like to the differ.
  for (int i = 0; i < variant * 64; ++i) {
    app[100'000 + static_cast<std::size_t>(i)] = static_cast<char>('a' + variant);
  }
  app += std::string(static_cast<std::size_t>(variant) * 1000, 'v');
  WriteFile(dir / "bin" / "app", app);
  ::chmod((dir / "bin" / "app").c_str(), 0755);
  WriteFile(dir / "etc" / "app.conf", "level = " + std::to_string(variant) + "\n");
  stdfs::create_directories(dir / "var" / "empty");
  std::error_code ec;
  stdfs::remove(dir / "bin" / "run", ec);
  stdfs::create_symlink("app", dir / "bin" / "run");
  stdfs::remove(dir / "bin" / "app-hardlink", ec);
  stdfs::create_hard_link(dir / "bin" / "app", dir / "bin" / "app-hardlink");
  for (const auto& entry : stdfs::recursive_directory_iterator(dir)) {
    struct timespec times[2] = {{1'700'000'000, 0}, {1'700'000'000, 0}};
    ::utimensat(AT_FDCWD, entry.path().c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
}

stdfs::path ManifestFile(const stdfs::path& repo, const std::string& app,
                         const std::string& version) {
  const std::string suffix = "." + version + ".json";
  for (const auto& entry : stdfs::directory_iterator(repo / "targets" / app)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 64 + suffix.size() && name.ends_with(suffix)) {
      return entry.path();
    }
  }
  ADD_FAILURE() << "no manifest target for " << app << " " << version;
  return {};
}

manifest::Manifest LoadManifest(const stdfs::path& repo, const std::string& app,
                                const std::string& version) {
  auto m = manifest::ParseManifest(ReadFile(ManifestFile(repo, app, version)));
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().String());
  return m ? *m : manifest::Manifest{};
}

std::string Sha256Hex(const std::string& data) { return trust::Sha256Hex(data); }

stdfs::path BlobFile(const stdfs::path& repo, const std::string& digest) {
  return repo / "blobs" / "sha256" / digest.substr(7);
}

void UnpackBlob(const stdfs::path& blob, const stdfs::path& dir) {
  stdfs::create_directories(dir);
  layers::FileSource file(blob);
  layers::ZstdSource zstd(file);
  layers::ExtractPolicy policy;
  policy.ownership = layers::Ownership::kCaller;
  policy.whiteouts = layers::WhiteoutMode::kList;
  auto r = layers::ExtractLayer(zstd, dir, policy);
  ASSERT_TRUE(r.has_value()) << r.error().String();
}

std::vector<std::string> TarMembers(const stdfs::path& tar) {
  std::vector<std::string> names;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, tar.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    names.emplace_back(archive_entry_pathname(e));
  }
  archive_read_free(a);
  return names;
}

stdfs::path WriteAppConfig(const stdfs::path& dir, const std::string& json) {
  const auto path = dir / "app.json";
  WriteFile(path, json);
  return path;
}

void PublishTest::SetUp() {
  auto r = Publish({"init", "--repo", repo().string(), "--keys", keys().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

void PublishTest::Release(const std::string& version, int variant) {
  const auto rootfs = tmp_ / ("rootfs-" + std::to_string(variant));
  MakeRootfs(rootfs, variant);
  auto r = Publish({"release", "--repo", repo().string(), "--keys", keys().string(), "--app", "web",
                    "--version", version, "--image", rootfs.string(), "--app-config",
                    WriteAppConfig(tmp_.path()).string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace ferry::publish::testing
