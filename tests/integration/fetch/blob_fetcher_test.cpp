// The blob fetcher against the real ferry-server and each network fault of docs/testing.md §3.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "ferry/fetch/http_client.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/state_store_resume.hpp"
#include "fetch_fixture.hpp"
#include "support/prerequisite.hpp"
#include "support/process.hpp"

namespace ferry::testing {
namespace {

namespace stdfs = std::filesystem;
using fetch::FetchErrc;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_F(FetchTest, FetchesAWholeBlobAndReportsProgress) {
  Start();
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  std::uint64_t last_done = 0;
  bool monotonic = true;
  std::uint64_t last_total = 0;
  const auto r = fetcher->Fetch(Request(), [&](std::uint64_t done, std::uint64_t total) {
    monotonic = monotonic && done >= last_done;
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->attempts, 1u);
  EXPECT_EQ(r->bytes_received, kBlobSize);
  EXPECT_EQ(r->restarts, 0u);
  EXPECT_TRUE(monotonic);
  EXPECT_EQ(last_done, kBlobSize);
  EXPECT_EQ(last_total, kBlobSize);
  EXPECT_TRUE(Sleeps().empty());
}

TEST_F(FetchTest, ResumesWithRangeAfterADroppedConnection) {
  Start({"drop:after=100000,path=/blobs/*,first=1"});
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  const auto r = fetcher->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->attempts, 2u);
  EXPECT_EQ(r->restarts, 0u);
  // Resumed, not refetched: every byte crossed the network once.
  EXPECT_EQ(r->bytes_received, kBlobSize);
  ASSERT_EQ(Sleeps().size(), 1u);
  EXPECT_GE(Sleeps()[0], milliseconds(50));
}

// ferryd stops mid-transfer (cancelled, as at shutdown) and a new fetcher with a reopened database
// picks up from the partial file and the stored validator.
std::uint64_t FetchPartly(const Clock& clock, const fetch::BlobFetcherOptions& options,
                          const fetch::BlobRequest& request, std::uint64_t stop_after) {
  fetch::CancelToken cancel;
  auto fetcher = fetch::MakeCurlBlobFetcher(clock, options);
  const auto r = fetcher->Fetch(
      request,
      [&](std::uint64_t done, std::uint64_t) {
        if (done >= stop_after) {
          cancel.Cancel();
        }
      },
      &cancel);
  EXPECT_FALSE(r);
  if (!r) {
    EXPECT_TRUE(r.error().Is(FetchErrc::kCancelled)) << r.error().String();
  }
  return stdfs::exists(request.partial_path) ? stdfs::file_size(request.partial_path) : 0;
}

TEST_F(FetchTest, ResumesAcrossARestartFromThePartialFileAndTheStoredValidator) {
  Start({"throttle:rate=400000,path=/blobs/*"});
  const stdfs::path db = dir_ / "state.db";
  std::uint64_t kept = 0;
  {
    auto store = store::OpenStateStore(db, clock_);
    ASSERT_TRUE(store) << store.error().String();
    auto resume = update::MakeStateStoreResume(**store);
    auto options = Options();
    options.resume_store = resume.get();
    kept = FetchPartly(clock_, options, Request(), 100000);
    ASSERT_GE(kept, 100000u);
    ASSERT_LT(kept, kBlobSize);
    auto record = (*store)->GetDownload(digest_);
    ASSERT_TRUE(record && *record);
    EXPECT_EQ((*record)->bytes_done, kept);
    EXPECT_EQ((*record)->total_bytes, kBlobSize);
    EXPECT_EQ((*record)->url, Url());
    EXPECT_FALSE((*record)->validator.empty());
  }
  auto store = store::OpenStateStore(db, clock_);
  ASSERT_TRUE(store) << store.error().String();
  ASSERT_NO_FATAL_FAILURE(FetchResumingFrom(**store, kept));
  auto record = (*store)->GetDownload(digest_);
  ASSERT_TRUE(record);
  EXPECT_FALSE(*record) << "a finished download leaves no record";
}

TEST_F(FetchTest, ResumesAfterTheFetchingProcessIsKilled) {
  // Only the first request is slow, so the kill lands mid-body and the resume is quick.
  Start({"throttle:rate=40000,path=/blobs/*,first=1"});
  const stdfs::path db = dir_ / "state.db";
  {
    Child tool({BuiltProgram("fetch_blob_tool").string(), Url(), digest_, std::to_string(kBlobSize),
                partial_.string(), db.string()},
               {}, dir_ / "tool.log");
    ASSERT_TRUE(WaitFor([&] {
      std::error_code ec;
      return stdfs::file_size(partial_, ec) >= 50000 && !ec;
    }));
    tool.Signal(SIGKILL);
    EXPECT_EQ(tool.Wait(std::chrono::seconds(10)), 128 + SIGKILL);
  }
  const std::uint64_t kept = stdfs::file_size(partial_);
  ASSERT_LT(kept, kBlobSize);
  auto store = store::OpenStateStore(db, clock_);
  ASSERT_TRUE(store) << store.error().String();
  auto record = (*store)->GetDownload(digest_);
  ASSERT_TRUE(record && *record) << "the validator is recorded before the first body byte";
  EXPECT_FALSE((*record)->validator.empty());
  FetchResumingFrom(**store, kept);
}

TEST_F(FetchTest, AFullDiskFailsAtOnceWithNoSpace) {
  Start();
  // A 64 KiB tmpfs in a private mount namespace holds the partial file; the blob is larger.
  const stdfs::path mnt = dir_ / "small";
  stdfs::create_directories(mnt);
  // As root a mount namespace is enough; a user namespace (-r) is refused inside a chroot.
  const std::string flags = ::geteuid() == 0 ? "-m" : "-rm";
  const RunResult probe = ::ferry::testing::Run({"unshare", flags, "true"});
  if (probe.exit_code != 0) {
    FERRY_SKIP_UNLESS_PREPARED("no user and mount namespaces here: " << probe.err);
  }
  const RunResult r = ::ferry::testing::Run(
      {"unshare", flags, "sh", "-c",
       "mount -t tmpfs -o size=64k tmpfs \"$1\" && shift && exec \"$@\"", "sh", mnt.string(),
       BuiltProgram("fetch_blob_tool").string(), Url(), digest_, std::to_string(kBlobSize),
       (mnt / "partial").string(), (dir_ / "state.db").string()});
  EXPECT_EQ(r.exit_code, 3) << "Errc::kNoSpace expected: " << r.err;
  EXPECT_TRUE(Contains(r.err, "No space left on device")) << r.err;
  EXPECT_TRUE(Contains(r.err, (mnt / "partial").string())) << r.err;
  EXPECT_FALSE(Contains(r.err, "retrying")) << "a full disk is not retried:\n" << r.err;
}

TEST_F(FetchTest, AServerCopyReplacedSinceThePartialIsFetchedWholeAgain) {
  Start({"throttle:rate=400000,path=/blobs/*"});
  auto store = store::OpenStateStore(dir_ / "state.db", clock_);
  ASSERT_TRUE(store) << store.error().String();
  auto resume = update::MakeStateStoreResume(**store);
  auto options = Options();
  options.resume_store = resume.get();
  const std::uint64_t kept = FetchPartly(clock_, options, Request(), 100000);
  ASSERT_GE(kept, 100000u);

  // The server's copy is replaced (same bytes, new file): its validator no longer matches the
  // stored one, so If-Range makes the server send the whole body, and the old bytes are dropped
  // rather than spliced with a body that may differ.
  stdfs::remove(repo_ / "blobs" / "blob.bin");
  WriteFile(repo_ / "blobs" / "blob.bin", blob_);
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->resumed_from, kept);
  EXPECT_EQ(r->restarts, 1u);
  EXPECT_EQ(r->bytes_received, kBlobSize);
}

TEST_F(FetchTest, ProgressIsRecordedInTheStoreDuringALongTransfer) {
  const std::string big = PatternBytes(9u << 20, 13);
  WriteFile(repo_ / "blobs" / "big.bin", big);
  Start();
  auto store = store::OpenStateStore(dir_ / "state.db", clock_);
  ASSERT_TRUE(store) << store.error().String();
  auto resume = update::MakeStateStoreResume(**store);
  auto options = Options();
  options.resume_store = resume.get();
  const std::string digest = Sha256Digest(big);
  fetch::BlobRequest request{Url("big.bin"), digest, big.size(), dir_ / "big.partial"};
  std::uint64_t seen_in_store = 0;
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, options);
  const auto r = fetcher->Fetch(request, [&](std::uint64_t done, std::uint64_t) {
    if (done >= (5u << 20) && seen_in_store == 0) {
      auto record = (*store)->GetDownload(digest);
      if (record && *record) {
        seen_in_store = (*record)->bytes_done;
      }
    }
  });
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_GE(seen_in_store, 4u << 20);
}

TEST_F(FetchTest, AServerIgnoringRangeGetsNoBytesSplicedIn) {
  Start({"drop:after=100000,path=/blobs/*,first=1", "ignore-range:path=/blobs/*"});
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  const auto r = fetcher->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->restarts, 1u);
  EXPECT_EQ(r->attempts, 2u);
  EXPECT_EQ(r->bytes_received, 100000u + kBlobSize);
}

TEST_F(FetchTest, AWrongContentRangeDiscardsThePartialAndRestartsFromZero) {
  Start({"drop:after=100000,path=/blobs/*,first=1", "content-range:shift=-100,path=/blobs/*"});
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  const auto r = fetcher->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->restarts, 1u);
  EXPECT_EQ(r->attempts, 3u);  // dropped, mislabelled 206 refused, whole body
  EXPECT_EQ(r->bytes_received, 100000u + kBlobSize);
}

TEST_F(FetchTest, AWrongTotalInContentRangeIsRefusedToo) {
  // The server's file is longer than the signed size: a 206 claims the wrong total.
  const std::string longer = blob_ + PatternBytes(5000, 4);
  WriteFile(repo_ / "blobs" / "blob.bin", longer);
  Start({"drop:after=100000,path=/blobs/*,first=1"});
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->restarts, 1u);
}

TEST_F(FetchTest, AFlippedByteIsCaughtByTheHashAndThePartialDeleted) {
  Start({"flip:offset=5000,path=/blobs/*"});
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  const auto r = fetcher->Fetch(Request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kDigestMismatch)) << r.error().String();
  EXPECT_TRUE(Contains(r.error().message(), Url())) << r.error().message();
  EXPECT_TRUE(Contains(r.error().message(), digest_)) << r.error().message();
  EXPECT_TRUE(Contains(r.error().message(), "partial file deleted")) << r.error().message();
  EXPECT_FALSE(stdfs::exists(partial_));
}

TEST_F(FetchTest, AFlippedByteInTheResumedPartIsCaughtToo) {
  Start({"drop:after=100000,path=/blobs/*,first=1", "flip:offset=200000,path=/blobs/*"});
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kDigestMismatch)) << r.error().String();
  EXPECT_FALSE(stdfs::exists(partial_));
}

TEST_F(FetchTest, ABodyLongerThanSignedIsCutAtTheSignedLength) {
  WriteFile(repo_ / "blobs" / "blob.bin", blob_ + std::string(1 << 20, 'x'));
  Start();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(stdfs::file_size(partial_), kBlobSize);
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->attempts, 1u);
  // Reading stops at the first chunk that crosses the signed size, not at the end of the body.
  EXPECT_LT(r->bytes_received, kBlobSize + (1u << 20));
}

TEST_F(FetchTest, ALongerBodyWithWrongBytesBeforeTheCutFailsTheHash) {
  WriteFile(repo_ / "blobs" / "blob.bin", PatternBytes(kBlobSize + 1000, 5));
  Start();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kDigestMismatch)) << r.error().String();
  EXPECT_FALSE(stdfs::exists(partial_));
}

TEST_F(FetchTest, AServerSendingOneByteASecondHitsTheMinimumThroughputTimeout) {
  Start({"throttle:rate=1,path=/blobs/*"});
  auto options = Options();
  options.min_throughput = 1000;
  options.min_throughput_window = seconds(2);
  options.backoff.attempts = 1;
  const auto started = std::chrono::steady_clock::now();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(Request());
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kTimeout)) << r.error().String();
  EXPECT_TRUE(Contains(r.error().message(), "1000 bytes/s")) << r.error().message();
  EXPECT_LT(took, seconds(20));
  EXPECT_TRUE(stdfs::exists(partial_)) << "the bytes that came are kept for a resume";
}

TEST_F(FetchTest, TooManyRequestsWithRetryAfterWaitsThatLongThenSucceeds) {
  Start({"status:code=429,retry-after=7,first=2"});
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  const auto r = fetcher->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->attempts, 3u);
  const auto sleeps = Sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_GE(sleeps[0], seconds(7));
  EXPECT_GE(sleeps[1], seconds(7));
}

TEST_F(FetchTest, ServiceUnavailableWithRetryAfterWaitsThenSucceeds) {
  Start({"status:code=503,retry-after=3,first=1,path=/blobs/*"});
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  ASSERT_EQ(Sleeps().size(), 1u);
  EXPECT_GE(Sleeps()[0], seconds(3));
}

TEST_F(FetchTest, AnExcessiveRetryAfterIsCappedByTheOptions) {
  Start({"status:code=503,retry-after=86400,first=1"});
  auto options = Options();
  options.max_retry_after = seconds(60);
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  ASSERT_EQ(Sleeps().size(), 1u);
  EXPECT_EQ(Sleeps()[0], seconds(60));
}

TEST_F(FetchTest, AFlappingLinkCompletesWithBackoffBetweenAttempts) {
  Start({"drop:after=40000,path=/blobs/*,first=4"});
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->attempts, 5u);
  EXPECT_EQ(r->bytes_received, kBlobSize);
  const auto sleeps = Sleeps();
  ASSERT_EQ(sleeps.size(), 4u);
  for (const auto d : sleeps) {
    EXPECT_GE(d, milliseconds(50));   // never a tight loop
    EXPECT_LE(d, milliseconds(200));  // each attempt made progress: back to the base delay
  }
}

TEST_F(FetchTest, AServerThatKeepsFailingIsGivenUpOnWithGrowingJitteredWaits) {
  Start({"status:code=500"});
  auto options = Options();
  options.backoff.attempts = 6;
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(Request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kHttpStatus)) << r.error().String();
  EXPECT_TRUE(Contains(r.error().message(), "HTTP 500")) << r.error().message();
  EXPECT_TRUE(Contains(r.error().message(), "giving up after 6 attempts")) << r.error().message();
  const auto sleeps = Sleeps();
  ASSERT_EQ(sleeps.size(), 5u);
  for (std::size_t i = 0; i < sleeps.size(); ++i) {
    EXPECT_GE(sleeps[i], milliseconds(50)) << i;
    EXPECT_LE(sleeps[i], milliseconds(200) * (1 << i)) << i;
  }
}

TEST_F(FetchTest, AServerThatNeverLetsAResumeFinishIsGivenUpOn) {
  // Every body breaks at the same byte and Range is ignored: each attempt starts over and ends at
  // the same place, so no attempt after the first makes progress.
  Start({"drop:after=100000,path=/blobs/*", "ignore-range:path=/blobs/*"});
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kTransport)) << r.error().String();
  EXPECT_TRUE(Contains(r.error().message(), "giving up after 5 attempts")) << r.error().message();
  EXPECT_EQ(Sleeps().size(), 5u);  // the first attempt's 100000 bytes were progress
  for (const auto d : Sleeps()) {
    EXPECT_GE(d, milliseconds(50));
  }
}

TEST_F(FetchTest, AClientErrorIsNotRetried) {
  Start({"status:code=403,path=/blobs/*"});
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kHttpStatus)) << r.error().String();
  EXPECT_TRUE(Contains(r.error().message(), "HTTP 403")) << r.error().message();
  EXPECT_TRUE(Sleeps().empty());
}

TEST_F(FetchTest, NotFoundIsNotRetried) {
  Start();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request("absent.bin"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kNotFound)) << r.error().String();
  EXPECT_TRUE(Contains(r.error().message(), Url("absent.bin"))) << r.error().message();
  EXPECT_TRUE(Sleeps().empty());
}

TEST_F(FetchTest, ACompletePartialFileOnDiskNeedsNoRequest) {
  Start();
  WriteFile(partial_, blob_);
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(r->attempts, 0u);
  EXPECT_EQ(r->bytes_received, 0u);
}

TEST_F(FetchTest, APartialFileLongerThanTheBlobIsDiscarded) {
  Start();
  WriteFile(partial_, blob_ + "trailing");
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->bytes_received, kBlobSize);
}

TEST_F(FetchTest, ACancelledTransferStopsAndKeepsItsBytes) {
  Start({"throttle:rate=20000,path=/blobs/*"});
  fetch::CancelToken cancel;
  const auto r = fetch::MakeCurlBlobFetcher(clock_, Options())
                     ->Fetch(
                         Request(),
                         [&](std::uint64_t done, std::uint64_t) {
                           if (done > 0) {
                             cancel.Cancel();
                           }
                         },
                         &cancel);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FetchErrc::kCancelled)) << r.error().String();
  EXPECT_GT(stdfs::file_size(partial_), 0u);
  EXPECT_LT(stdfs::file_size(partial_), kBlobSize);
  EXPECT_TRUE(Sleeps().empty());
}

TEST_F(FetchTest, TheRateLimitCapsTheTransferSpeed) {
  // Large enough that the limit, not the first burst through loopback buffers, decides.
  const std::string big = PatternBytes(6u << 20, 11);
  WriteFile(repo_ / "blobs" / "big.bin", big);
  Start();
  auto options = Options();
  options.rate_limit = 3u << 20;  // bytes per second: the blob takes about 2 s
  fetch::BlobRequest request{Url("big.bin"), Sha256Digest(big), big.size(), dir_ / "big.partial"};
  const auto started = std::chrono::steady_clock::now();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(request);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_GE(took, milliseconds(1000));
}

TEST_F(FetchTest, AMalformedDigestOrUrlIsRefusedBeforeAnyRequest) {
  Start();
  auto fetcher = fetch::MakeCurlBlobFetcher(clock_, Options());
  auto request = Request();
  request.digest = "sha256:XYZ";
  const auto bad_digest = fetcher->Fetch(request);
  ASSERT_FALSE(bad_digest);
  EXPECT_TRUE(bad_digest.error().Is(Errc::kInvalidArgument));
  request = Request();
  request.url = "ftp://127.0.0.1/blob";
  const auto bad_url = fetcher->Fetch(request);
  ASSERT_FALSE(bad_url);
  EXPECT_TRUE(bad_url.error().Is(FetchErrc::kBadUrl));
  EXPECT_FALSE(stdfs::exists(partial_));
}

}  // namespace
}  // namespace ferry::testing
