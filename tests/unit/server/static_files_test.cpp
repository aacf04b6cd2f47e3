#include "ferry/httpd/static_files.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>

#include "ferry/httpd/error.hpp"
#include "support/temp_dir.hpp"

namespace ferry::httpd {
namespace {

namespace stdfs = std::filesystem;
using Confinement = StaticFiles::Confinement;

}  // namespace

void PrintTo(StaticFiles::Confinement c, std::ostream* os) {
  *os << (c == StaticFiles::Confinement::kKernel ? "kernel" : "realpath");
}

namespace {

void Write(const stdfs::path& p, std::string_view data) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

// Both confinement methods must give the same answers: the realpath one is what runs where a
// sandbox refuses openat2.
class StaticFilesServe : public ::testing::TestWithParam<Confinement> {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    Write(repo_ / "a.json", "{}");
    Write(repo_ / "sub" / "b.bin", "0123456789");
    Write(dir_ / "outside.txt", "outside");
    stdfs::create_symlink("../outside.txt", repo_ / "up");
    stdfs::create_symlink(dir_ / "outside.txt", repo_ / "absolute");
    stdfs::create_symlink("sub/../../outside.txt", repo_ / "through");
    stdfs::create_symlink("../repo/sub/b.bin", repo_ / "out-and-back");
    stdfs::create_symlink("sub/b.bin", repo_ / "inside");
    stdfs::create_symlink("..", repo_ / "sub" / "parent");
    ASSERT_EQ(::mkfifo((repo_ / "fifo").c_str(), 0644), 0);
    files_ = StaticFiles::Open(repo_, GetParam()).value();
  }

  Response Serve(std::string_view path, http::verb method = http::verb::get) {
    HttpRequest message(method, path, 11);
    const Request request{message, {}, path, {}, {}};
    return files_->Serve(request, path);
  }

  std::string Body(const Response& r) {
    const auto* file = std::get_if<FileBody>(&r.body);
    if (file == nullptr) {
      return {};
    }
    std::string out(file->length, '\0');
    const auto n =
        ::pread(file->file.get(), out.data(), out.size(), static_cast<off_t>(file->offset));
    EXPECT_EQ(n, static_cast<ssize_t>(out.size()));
    return out;
  }

  ferry::testing::TempDir dir_;
  stdfs::path repo_;
  std::shared_ptr<StaticFiles> files_;
};

TEST_P(StaticFilesServe, ServesFilesAndInsideSymlinks) {
  const Response json = Serve("/a.json");
  EXPECT_EQ(json.status, http::status::ok);
  EXPECT_EQ(json.headers[http::field::content_type], "application/json");
  EXPECT_EQ(Body(Serve("/sub/b.bin")), "0123456789");
  EXPECT_EQ(Body(Serve("/inside")), "0123456789");
  EXPECT_EQ(Body(Serve("/sub/parent/sub/b.bin")), "0123456789");  // out of sub, still inside
}

TEST_P(StaticFilesServe, NoSymlinkLeadsOutOfTheRoot) {
  for (const char* path : {"/up", "/absolute", "/through", "/sub/parent/up"}) {
    const Response r = Serve(path);
    EXPECT_EQ(r.status, http::status::not_found) << path;
    EXPECT_EQ(Body(r), "") << path;
  }
}

TEST_P(StaticFilesServe, DirectoriesFifosAndTheRootAre404) {
  for (const char* path : {"/", "/sub", "/sub/", "/fifo", "/missing", "/a.json/x"}) {
    EXPECT_EQ(Serve(path).status, http::status::not_found) << path;
  }
}

TEST_P(StaticFilesServe, BadPathsAre400) {
  for (const char* path : {"/../outside.txt", "/%2e%2e/outside.txt", "/a.json%00", "nope"}) {
    EXPECT_EQ(Serve(path).status, http::status::bad_request) << path;
  }
}

INSTANTIATE_TEST_SUITE_P(Both, StaticFilesServe,
                         ::testing::Values(Confinement::kKernel, Confinement::kRealpath),
                         [](const auto& param_info) {
                           return param_info.param == Confinement::kKernel
                                      ? std::string("Kernel")
                                      : std::string("Realpath");
                         });

TEST(StaticFilesOpen, RefusesAMissingRoot) {
  ferry::testing::TempDir dir;
  const auto r = StaticFiles::Open(dir / "missing");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().Is(HttpdErrc::kBadRoot));
}

TEST(ContentTypeFor, JsonOrOctetStream) {
  EXPECT_EQ(ContentTypeFor("targets/x.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("blobs/sha256/ab"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("x.json.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace ferry::httpd
