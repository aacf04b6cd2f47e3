#include "server-mock/ferry-publish/image.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "support/temp_dir.hpp"

namespace ferry::publish {
namespace {

namespace stdfs = std::filesystem;

std::string Slurp(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Touch(const stdfs::path& p, const std::string& content, time_t mtime) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  struct timespec t[2] = {{mtime, 0}, {mtime, 0}};
  ::utimensat(AT_FDCWD, p.c_str(), t, 0);
}

struct Member {
  std::string name;
  time_t mtime;
  mode_t mode;
  la_int64_t uid;
  la_int64_t gid;
};

std::vector<Member> Members(const stdfs::path& tar) {
  std::vector<Member> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, tar.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    out.push_back({archive_entry_pathname(e), archive_entry_mtime(e), archive_entry_mode(e),
                   archive_entry_uid(e), archive_entry_gid(e)});
    EXPECT_FALSE(archive_entry_atime_is_set(e)) << archive_entry_pathname(e);
    EXPECT_FALSE(archive_entry_ctime_is_set(e)) << archive_entry_pathname(e);
  }
  archive_read_free(a);
  return out;
}

TEST(WriteTreeTar, SortedEntriesWithTheFilesOwnMetadata) {
  ferry::testing::TempDir tmp;
  const auto root = tmp / "root";
  Touch(root / "zeta", "z", 1000);
  Touch(root / "alpha" / "b", "b", 2000);
  Touch(root / "alpha" / "a", "a", 3000);
  ::chmod((root / "zeta").c_str(), 0750);
  ASSERT_TRUE(WriteTreeTar(root, tmp / "out.tar").has_value());
  const auto m = Members(tmp / "out.tar");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].name, "alpha/");
  EXPECT_EQ(m[1].name, "alpha/a");
  EXPECT_EQ(m[1].mtime, 3000);
  EXPECT_EQ(m[2].name, "alpha/b");
  EXPECT_EQ(m[3].name, "zeta");
  EXPECT_EQ(m[3].mode & 07777, 0750u);
  EXPECT_EQ(m[3].mtime, 1000);
}

TEST(WriteTreeTar, SameTreeSameBytesAndAChangedTimeShows) {
  ferry::testing::TempDir tmp;
  for (const char* dir : {"one", "two"}) {
    Touch(tmp / dir / "etc" / "conf", "x=1\n", 5000);
    Touch(tmp / dir / "bin" / "tool", std::string(100000, 't'), 6000);
    stdfs::create_symlink("tool", tmp / dir / "bin" / "alias");
    struct timespec t[2] = {{7000, 0}, {7000, 0}};
    // The link's own time too: made a second apart, the two links would differ in it.
    ::utimensat(AT_FDCWD, (tmp / dir / "bin" / "alias").c_str(), t, AT_SYMLINK_NOFOLLOW);
    for (const char* sub : {"etc", "bin"}) {
      ::utimensat(AT_FDCWD, (tmp / dir / sub).c_str(), t, 0);
    }
  }
  ASSERT_TRUE(WriteTreeTar(tmp / "one", tmp / "one.tar").has_value());
  ASSERT_TRUE(WriteTreeTar(tmp / "two", tmp / "two.tar").has_value());
  EXPECT_EQ(Slurp(tmp / "one.tar"), Slurp(tmp / "two.tar"));
  Touch(tmp / "two" / "etc" / "conf", "x=1\n", 5001);
  ASSERT_TRUE(WriteTreeTar(tmp / "two", tmp / "two.tar").has_value());
  EXPECT_NE(Slurp(tmp / "one.tar"), Slurp(tmp / "two.tar"));
}

TEST(WriteTreeTar, ForcedOwnerAppliesToEveryEntry) {
  ferry::testing::TempDir tmp;
  Touch(tmp / "root" / "d" / "f", "f", 1000);
  ASSERT_TRUE(WriteTreeTar(tmp / "root", tmp / "out.tar", Owner{0, 0}).has_value());
  ASSERT_TRUE(WriteTreeTar(tmp / "root", tmp / "mine.tar").has_value());
  for (const auto& m : Members(tmp / "out.tar")) {
    EXPECT_EQ(m.uid, 0) << m.name;
    EXPECT_EQ(m.gid, 0) << m.name;
  }
  for (const auto& m : Members(tmp / "mine.tar")) {
    EXPECT_EQ(m.uid, static_cast<la_int64_t>(::getuid())) << m.name;
  }
}

TEST(ImportImage, ExplainsWhatItCannotUse) {
  ferry::testing::TempDir tmp;
  auto missing = ImportImage((tmp / "none").string(), tmp.path());
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().Is(Errc::kNotFound));
  // An OCI layout whose index names a digest that is not a sha256 digest.
  stdfs::create_directories(tmp / "oci");
  std::ofstream(tmp / "oci" / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  std::ofstream(tmp / "oci" / "index.json")
      << R"({"schemaVersion":2,"manifests":[{"digest":"sha256:../../../etc/passwd"}]})";
  auto escape = ImportImage((tmp / "oci").string(), tmp.path());
  ASSERT_FALSE(escape.has_value());
  EXPECT_NE(escape.error().message().find("unsupported digest"), std::string::npos);
}

}  // namespace
}  // namespace ferry::publish
