// Layers made by GNU tar from a real directory tree (gnu, pax, ustar formats, and `docker save`
// style `./` prefixes) extract to a tree GNU tar itself finds identical (`tar --compare`), with the
// digest `sha256sum` prints for the tar file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ferry/core/fs.hpp"
#include "ferry/layers/extract.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::layers {
namespace {
namespace stdfs = std::filesystem;

using ferry::testing::TempDir;

void MakeTree(const stdfs::path& src) {
  ASSERT_TRUE(fs::MakeDirs(src / "etc/app").has_value());
  ASSERT_TRUE(fs::MakeDirs(src / "usr/bin").has_value());
  ASSERT_TRUE(fs::MakeDirs(src / "var/empty").has_value());
  ASSERT_TRUE(fs::WriteFileAtomic(src / "etc/app/config.toml", "name = \"app\"\n").has_value());
  ASSERT_TRUE(fs::WriteFileAtomic(src / "usr/bin/app", std::string(300000, 'b'), 0755).has_value());
  ASSERT_TRUE(fs::WriteFileAtomic(src / "usr/bin/empty", "", 0600).has_value());
  const std::string long_dir = std::string(90, 'd') + "/" + std::string(90, 'e');
  ASSERT_TRUE(fs::MakeDirs(src / long_dir).has_value());
  ASSERT_TRUE(
      fs::WriteFileAtomic(src / long_dir / (std::string(150, 'f') + ".txt"), "long").has_value());
  stdfs::create_symlink("app", src / "usr/bin/app-link");
  stdfs::create_symlink("/etc/app/config.toml", src / "etc/config-abs");
  stdfs::create_hard_link(src / "usr/bin/app", src / "usr/bin/app-hard");
  ASSERT_EQ(::chmod((src / "var/empty").c_str(), 0711), 0);
  ASSERT_EQ(::chmod((src / "etc/app").c_str(), 0750), 0);
}

class RealTar : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(RealTar, ExtractsWhatGnuTarFindsIdentical) {
  TempDir tmp;
  MakeTree(tmp / "src");
  const stdfs::path tar = tmp / "layer.tar";
  std::vector<std::string> argv = {"tar", "-C", (tmp / "src").string(), "-cf", tar.string()};
  argv.insert(argv.end(), GetParam().begin(), GetParam().end());
  const auto made = ferry::testing::Run(argv);
  ASSERT_EQ(made.exit_code, 0) << made.err;

  ASSERT_TRUE(stdfs::create_directory(tmp / "root"));
  FileSource source(tar, 4096);
  ExtractPolicy policy = ExtractPolicy::ForCurrentProcess();
  auto result = ExtractLayer(source, tmp / "root", policy);
  ASSERT_TRUE(result.has_value()) << result.error().message();

  const auto sum = ferry::testing::Run({"sha256sum", tar.string()});
  ASSERT_EQ(sum.exit_code, 0);
  EXPECT_EQ(result->digest, "sha256:" + sum.out.substr(0, 64));
  EXPECT_EQ(result->tar_bytes, stdfs::file_size(tar));

  const auto compare =
      ferry::testing::Run({"tar", "--compare", "-f", tar.string(), "-C", (tmp / "root").string()});
  EXPECT_EQ(compare.exit_code, 0) << compare.out << compare.err;
  struct stat st {};
  ASSERT_EQ(::lstat((tmp / "root/var/empty").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, RealTar,
    ::testing::Values(std::vector<std::string>{"--format=gnu", "."},
                      std::vector<std::string>{"--format=pax", "--xattrs", "."},
                      std::vector<std::string>{"--format=gnu", "etc", "usr", "var"},
                      std::vector<std::string>{"--format=posix", "--sort=name", "--numeric-owner",
                                               "."}),
    [](const auto& param_info) { return "Variant" + std::to_string(param_info.index); });

}  // namespace
}  // namespace ferry::layers
