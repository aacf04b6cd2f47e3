// Unpacking while the download runs: the stream ends only after the writer finished and the bytes
// read hash to the signed digest, so nothing unverified is ever staged.
#include "ferry/layers/growing_file_source.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "ferry/layers/extract.hpp"
#include "layer_fixture.hpp"
#include "tar_builder.hpp"

namespace ferry::layers::testing {
namespace {

using namespace std::chrono_literals;

std::string Pattern(std::size_t n, unsigned seed = 7) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + seed) % 251);
  }
  return s;
}

std::string Digest(const std::string& data) { return "sha256:" + Sha256Hex(data); }

class GrowingFile {
 public:
  explicit GrowingFile(std::filesystem::path path) : path_(std::move(path)) {
    out_.open(path_, std::ios::binary | std::ios::trunc);
  }
  void Append(const std::string& bytes) {
    out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out_.flush();
    written_ += bytes.size();
  }
  std::size_t written() const { return written_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  std::size_t written_ = 0;
};

// Reads up to `limit` bytes (all, by default); stops at the end, an error or the limit.
std::string Drain(ByteSource& source, std::optional<Error>* error = nullptr,
                  std::size_t limit = SIZE_MAX) {
  std::string out;
  while (out.size() < limit) {
    auto chunk = source.Next();
    if (!chunk) {
      if (error != nullptr) {
        *error = chunk.error();
      }
      return out;
    }
    if (chunk->empty()) {
      return out;
    }
    out.append(reinterpret_cast<const char*>(chunk->data()), chunk->size());
  }
  return out;
}

TEST(GrowingFileSource, FollowsAWriterToTheVerifiedEnd) {
  ferry::testing::TempDir dir;
  const std::string data = Pattern(1'000'003);
  GrowingFile file(dir.path() / "blob");
  GrowingFileSource source(file.path(), Digest(data), data.size(), 4096);
  std::thread writer([&] {
    for (std::size_t at = 0; at < data.size(); at += 70'001) {
      file.Append(data.substr(at, 70'001));
      source.Grew(file.written());
    }
    source.Finish(Ok());
  });
  std::optional<Error> error;
  const std::string got = Drain(source, &error);
  writer.join();
  ASSERT_FALSE(error) << error->message();
  EXPECT_EQ(got, data);
  auto again = source.Next();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

TEST(GrowingFileSource, EndOfStreamWaitsForTheWriterToFinish) {
  ferry::testing::TempDir dir;
  const std::string data = Pattern(10'000);
  GrowingFile file(dir.path() / "blob");
  file.Append(data);
  GrowingFileSource source(file.path(), Digest(data), data.size());
  source.Grew(data.size());
  EXPECT_EQ(Drain(source, nullptr, data.size()), data);
  auto end = std::async(std::launch::async, [&] { return source.Next(); });
  // Every byte is there, but the writer has not said the file is verified: no end yet.
  EXPECT_EQ(end.wait_for(100ms), std::future_status::timeout);
  source.Finish(Ok());
  auto last = end.get();
  ASSERT_TRUE(last) << last.error().message();
  EXPECT_TRUE(last->empty());
}

TEST(GrowingFileSource, BytesPastTheSignedSizeWaitForTheWriterToSayHowItEnded) {
  // A server sends a longer body than the signed blob: the signed size is read, and then the end
  // is the writer's to tell, not the source's to guess.
  ferry::testing::TempDir dir;
  const std::string data = Pattern(30'000);
  GrowingFile file(dir.path() / "blob");
  file.Append(data);
  GrowingFileSource source(file.path(), Digest(data.substr(0, 20'000)), 20'000);
  source.Grew(data.size());
  EXPECT_EQ(Drain(source, nullptr, 20'000), data.substr(0, 20'000));
  auto end = std::async(std::launch::async, [&] { return source.Next(); });
  EXPECT_EQ(end.wait_for(100ms), std::future_status::timeout);
  source.Finish(Fail(Errc::kCorrupt, "GET blob: 30000 bytes, not the signed 20000"));
  auto last = end.get();
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().message(), "GET blob: 30000 bytes, not the signed 20000");
}

TEST(GrowingFileSource, TheWritersErrorComesAfterTheBytesWritten) {
  ferry::testing::TempDir dir;
  const std::string data = Pattern(50'000);
  GrowingFile file(dir.path() / "blob");
  file.Append(data.substr(0, 20'000));
  GrowingFileSource source(file.path(), Digest(data), data.size());
  source.Grew(20'000);
  source.Finish(Fail(Errc::kUnavailable, "GET blob: connection refused"));
  std::optional<Error> error;
  EXPECT_EQ(Drain(source, &error), data.substr(0, 20'000));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), make_error_code(Errc::kUnavailable));
  EXPECT_FALSE(source.Next());  // an error is final
}

TEST(GrowingFileSource, FailsWhenTheDownloadStartsOver) {
  ferry::testing::TempDir dir;
  const std::string data = Pattern(50'000);
  GrowingFile file(dir.path() / "blob");
  file.Append(data.substr(0, 30'000));
  GrowingFileSource source(file.path(), Digest(data), data.size());
  source.Grew(30'000);
  EXPECT_EQ(Drain(source, nullptr, 30'000).size(), 30'000u);
  source.Grew(10);  // the fetcher truncated the file and began again
  std::optional<Error> error;
  Drain(source, &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), make_error_code(Errc::kCorrupt));
}

TEST(GrowingFileSource, NeverEndsOnBytesThatDoNotHashToTheDigest) {
  // The writer rewrote the file between attempts without the size ever going down where this
  // source saw it: the first half read is stale, the file as finished is the signed blob. The
  // bytes handed out were not the verified ones, so there is no end of stream.
  ferry::testing::TempDir dir;
  const std::string stale = Pattern(40'000, 1);
  const std::string signed_blob = Pattern(40'000, 2);
  const std::filesystem::path path = dir.path() / "blob";
  {
    GrowingFile first(path);
    first.Append(stale.substr(0, 20'000));
  }
  GrowingFileSource source(path, Digest(signed_blob), signed_blob.size(), 4096);
  source.Grew(20'000);
  EXPECT_EQ(Drain(source, nullptr, 20'000), stale.substr(0, 20'000));
  {
    GrowingFile second(path);
    second.Append(signed_blob);
  }
  source.Grew(signed_blob.size());
  source.Finish(Ok());
  std::optional<Error> error;
  Drain(source, &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), make_error_code(Errc::kCorrupt));
  EXPECT_NE(error->message().find("not the signed"), std::string::npos) << error->message();
}

TEST(GrowingFileSource, StagesALayerWhileItDownloads) {
  ferry::testing::TempDir dir;
  const std::string tar =
      TarBuilder().Dir("etc").File("etc/a.conf", Pattern(300'000)).File("b", "x").Finish();
  const std::string diff_id = Digest(tar);
  GrowingFile file(dir.path() / "blob");
  GrowingFileSource source(file.path(), diff_id, tar.size(), 8192);
  std::thread writer([&] {
    for (std::size_t at = 0; at < tar.size(); at += 65'536) {
      file.Append(tar.substr(at, 65'536));
      source.Grew(file.written());
    }
    source.Finish(Ok());
  });
  ExtractPolicy policy = LayerTest::DefaultPolicy();
  auto staged = StageLayer(source, dir.path() / "layers", diff_id, policy);
  writer.join();
  ASSERT_TRUE(staged) << staged.error().message();
  EXPECT_EQ(ReadAll(dir.path() / "layers" / diff_id.substr(7) / "b"), "x");
}

TEST(GrowingFileSource, ALayerWhoseDownloadFailsIsNotStaged) {
  ferry::testing::TempDir dir;
  const std::string tar = TarBuilder().File("a", Pattern(200'000)).Finish();
  const std::string diff_id = Digest(tar);
  GrowingFile file(dir.path() / "blob");
  // Every byte of the layer arrives, but the blob's digest check fails at the end.
  file.Append(tar);
  GrowingFileSource source(file.path(), diff_id, tar.size());
  source.Grew(tar.size());
  source.Finish(Fail(Errc::kCorrupt, "GET blob: the bytes received hash to sha256:00"));
  auto staged = StageLayer(source, dir.path() / "layers", diff_id, LayerTest::DefaultPolicy());
  ASSERT_FALSE(staged);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "layers" / diff_id.substr(7)));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "layers" / (diff_id.substr(7) + ".partial")));
}

}  // namespace
}  // namespace ferry::layers::testing
