// Unpacking a full layer while its blob downloads (FetchWhileUnpacking with the engine's
// UnpackLayerBlob), against a scripted fetcher that writes the partial file the way the real one
// does: in chunks, progress after each, and the contract's outcomes (a digest mismatch found at the
// end, a transfer cut short and resumed later, a restart from byte 0).
#include "ferry/update/fetch_while_unpacking.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/engine/unpack_layer.hpp"
#include "ferry/fetch/http_client.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::update {
namespace {

namespace stdfs = std::filesystem;

// Writes `body` to the partial file in `chunk`-byte pieces, calling progress after each, as
// BlobFetcher does. What it does besides is set per test.
class ScriptedFetcher final : public fetch::BlobFetcher {
 public:
  std::string body;
  std::size_t chunk = 4096;
  std::size_t stop_after = std::string::npos;  // fail with a transport error past this many bytes
  std::size_t restart_at = std::string::npos;  // truncate the file once, at this many bytes
  bool check_digest = true;                    // false: a broken fetcher that says Ok anyway

  Result<fetch::FetchStats> Fetch(const fetch::BlobRequest& request,
                                  const fetch::ProgressFn& progress,
                                  const fetch::CancelToken*) override {
    const int fd = ::open(request.partial_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return Fail(fetch::FetchErrc::kIo, "open");
    }
    std::size_t done = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
    if (progress) {
      progress(done, request.size);
    }
    while (done < body.size()) {
      if (done >= stop_after) {
        ::close(fd);
        return Fail(fetch::FetchErrc::kTransport, "GET " + request.url + ": connection lost");
      }
      if (done >= restart_at) {
        restart_at = std::string::npos;
        EXPECT_EQ(::ftruncate(fd, 0), 0);
        done = 0;
        if (progress) {
          progress(0, request.size);
        }
      }
      const std::size_t n = std::min(chunk, body.size() - done);
      EXPECT_EQ(::pwrite(fd, body.data() + done, n, static_cast<off_t>(done)),
                static_cast<ssize_t>(n));
      done += n;
      if (progress) {
        progress(done, request.size);
      }
    }
    ::close(fd);
    if (check_digest) {
      auto got = Sha256FileDigest(request.partial_path);
      if (!got || *got != request.digest) {
        ::unlink(request.partial_path.c_str());
        return Fail(fetch::FetchErrc::kDigestMismatch,
                    "GET " + request.url + ": the body does not hash to " + request.digest);
      }
    }
    return fetch::FetchStats{body.size(), 0, 1, 0};
  }
};

class FetchWhileUnpackingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Big enough for many chunks and several files; compressible, but not to nothing.
    const stdfs::path root = work_ / "root";
    stdfs::create_directories(root / "etc");
    std::string data;
    for (int i = 0; i < 200'000; ++i) {
      data += std::to_string(i * 7919 % 100'003) + ' ';
    }
    std::ofstream(root / "data.txt", std::ios::binary) << data;
    std::ofstream(root / "etc" / "version", std::ios::binary) << "2.0.0\n";
    const stdfs::path tar = work_ / "layer.tar";
    auto r =
        testing::Run({"tar", "--format=pax", "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                      "--numeric-owner", "-C", root.string(), "-cf", tar.string(), "."});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    blob_ = Compress(tar, "-3");
    layer_.diff_id = *Sha256FileDigest(tar);
    layer_.size = stdfs::file_size(tar);
    layer_.blob = {Sha256Digest(blob_), blob_.size()};
    request_ = {"http://repo/blobs/sha256/" + layer_.blob.digest.substr(7), layer_.blob.digest,
                layer_.blob.size, work_ / "partial"};
    stdfs::create_directories(layers_);
    data_ = data;
  }

  std::string Compress(const stdfs::path& tar, const std::string& level) {
    const std::string out = tar.string() + level + ".zst";
    auto z = testing::Run({"zstd", "-q", "-f", level, tar.string(), "-o", out});
    EXPECT_EQ(z.exit_code, 0) << z.err;
    return fs::ReadFile(out).value_or("");
  }

  FetchAndUnpack Run(ScriptedFetcher& fetcher) {
    return FetchWhileUnpacking(fetcher, request_, {}, nullptr, [&](layers::ByteSource& bytes) {
      auto staged = engine::UnpackLayerBlob(bytes, layers_, layer_, {});
      return staged ? Ok() : Status(std::unexpected(staged.error()));
    });
  }

  stdfs::path Layer() const { return layers_ / layer_.diff_id.substr(7); }

  // Nothing of the layer under any name: no tree, no .partial, no whiteout list.
  void ExpectNothingStaged() {
    for (const auto& e : stdfs::directory_iterator(layers_)) {
      ADD_FAILURE() << "left in the layer store: " << e.path();
    }
  }

  testing::TempDir work_;
  stdfs::path layers_ = work_ / "layers";
  std::string blob_;
  std::string data_;
  manifest::Layer layer_;
  fetch::BlobRequest request_;
};

TEST_F(FetchWhileUnpackingTest, UnpacksTheLayerByteExactWhileTheBlobArrives) {
  ScriptedFetcher fetcher;
  fetcher.body = blob_;
  auto r = Run(fetcher);
  ASSERT_TRUE(r.fetched) << r.fetched.error().message();
  ASSERT_TRUE(r.unpacked) << r.unpacked.error().message();
  EXPECT_EQ(fs::ReadFile(Layer() / "data.txt").value_or(""), data_);
  EXPECT_EQ(fs::ReadFile(Layer() / "etc" / "version").value_or(""), "2.0.0\n");
  EXPECT_EQ(fs::ReadFile(request_.partial_path).value_or(""), blob_) << "the blob stays";
}

TEST_F(FetchWhileUnpackingTest, ABlobThatDoesNotHashToItsDigestAtTheEndLeavesNothingStaged) {
  // Another valid zstd encoding of the same tar: every entry unpacks and the tar hashes to its
  // diff_id, so only the blob's own sha256, known after its last byte, tells it is not the signed
  // blob.
  ScriptedFetcher fetcher;
  fetcher.body = Compress(work_ / "layer.tar", "-1");
  ASSERT_NE(fetcher.body, blob_);
  auto r = Run(fetcher);
  ASSERT_FALSE(r.fetched);
  EXPECT_TRUE(r.fetched.error().Is(fetch::FetchErrc::kDigestMismatch));
  ASSERT_FALSE(r.unpacked);
  EXPECT_NE(r.unpacked.error().message().find(layer_.blob.digest), std::string::npos)
      << "the error names the blob: " << r.unpacked.error().message();
  ExpectNothingStaged();
}

TEST_F(FetchWhileUnpackingTest, ABrokenFetcherThatSaysOkStillCannotGetAMismatchedBlobStaged) {
  ScriptedFetcher fetcher;
  fetcher.body = Compress(work_ / "layer.tar", "-1");
  fetcher.check_digest = false;
  auto r = Run(fetcher);
  ASSERT_TRUE(r.fetched);
  ASSERT_FALSE(r.unpacked);
  EXPECT_TRUE(r.unpacked.error().Is(Errc::kCorrupt)) << r.unpacked.error().message();
  EXPECT_NE(r.unpacked.error().message().find("not the signed " + layer_.blob.digest),
            std::string::npos)
      << r.unpacked.error().message();
  ExpectNothingStaged();
}

TEST_F(FetchWhileUnpackingTest, AnInterruptedDownloadLeavesNothingStagedAndTheNextAttemptResumes) {
  ScriptedFetcher fetcher;
  fetcher.body = blob_;
  fetcher.stop_after = blob_.size() / 2;
  auto cut = Run(fetcher);
  ASSERT_FALSE(cut.fetched);
  EXPECT_TRUE(cut.fetched.error().Is(fetch::FetchErrc::kTransport));
  ASSERT_FALSE(cut.unpacked);
  EXPECT_TRUE(cut.unpacked.error().Is(fetch::FetchErrc::kTransport))
      << cut.unpacked.error().message();
  ExpectNothingStaged();
  EXPECT_GE(stdfs::file_size(request_.partial_path), blob_.size() / 2) << "kept for a resume";

  // The next attempt goes on from the bytes on disk, and unpacks from the first byte of the file.
  fetcher.stop_after = std::string::npos;
  auto resumed = Run(fetcher);
  ASSERT_TRUE(resumed.fetched) << resumed.fetched.error().message();
  ASSERT_TRUE(resumed.unpacked) << resumed.unpacked.error().message();
  EXPECT_EQ(fs::ReadFile(Layer() / "data.txt").value_or(""), data_);
}

TEST_F(FetchWhileUnpackingTest, ADownloadThatStartsOverFailsTheUnpackButCompletesTheBlob) {
  ScriptedFetcher fetcher;
  fetcher.body = blob_;
  fetcher.restart_at = blob_.size() / 3;
  auto r = Run(fetcher);
  ASSERT_TRUE(r.fetched) << r.fetched.error().message();
  ASSERT_FALSE(r.unpacked);
  EXPECT_TRUE(r.unpacked.error().Is(Errc::kCorrupt)) << r.unpacked.error().message();
  ExpectNothingStaged();
  // The caller unpacks it from the finished file instead (the engine at staging).
  layers::FileSource file(request_.partial_path);
  auto staged = engine::UnpackLayerBlob(file, layers_, layer_, {});
  ASSERT_TRUE(staged) << staged.error().message();
  EXPECT_EQ(fs::ReadFile(Layer() / "data.txt").value_or(""), data_);
}

}  // namespace
}  // namespace ferry::update
