// The repository side of ferry-server, driven over loopback as a device would.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "raw_http.hpp"
#include "server_process.hpp"

namespace ferry::testing {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kBlobSize = 300'000;
const std::string kSecret = "TOP-SECRET-OUTSIDE-THE-REPO";

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    blob_ = PatternBytes(kBlobSize);
    WriteFile(repo_ / "blob.bin", blob_);
    WriteFile(repo_ / "targets" / "app.json", "{\"version\": 1}\n");
    WriteFile(repo_ / "dir" / "inner.bin", "x");
    WriteFile(dir_ / "secret.txt", kSecret);
    stdfs::create_symlink("../secret.txt", repo_ / "escape");
    stdfs::create_symlink(dir_.path(), repo_ / "escape-dir");
    stdfs::create_symlink("/etc/passwd", repo_ / "absolute-link");
    stdfs::create_symlink("blob.bin", repo_ / "inside-link");
    server_ =
        std::make_unique<ServerProcess>(repo_, std::vector<std::string>{}, dir_ / "server.log");
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  RawResponse Get(std::string_view target, std::string_view headers = {}) {
    return ferry::testing::Get(port_, target, headers);
  }

  TempDir dir_;
  stdfs::path repo_;
  std::string blob_;
  std::unique_ptr<ServerProcess> server_;
  std::uint16_t port_ = 0;
};

TEST_F(StaticFilesTest, PrintsOneMachineReadableListeningLine) {
  EXPECT_NE(server_->Log().find("listening on 127.0.0.1:" + std::to_string(port_) + "\n"),
            std::string::npos);
}

TEST_F(StaticFilesTest, HeadGivesLengthTypeAndValidatorsWithoutBody) {
  RawConnection c(port_);
  c.Send("HEAD /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.Read(/*head=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Length"), std::to_string(kBlobSize));
  EXPECT_EQ(r->Header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r->Header("Accept-Ranges"), "bytes");
  EXPECT_TRUE(r->Header("ETag").starts_with("\""));
  EXPECT_TRUE(r->Has("Last-Modified"));
  EXPECT_TRUE(r->body.empty());
  // No body bytes follow the header: the next response on the connection starts cleanly.
  c.Send("HEAD /targets/app.json HTTP/1.1\r\nHost: x\r\n\r\n");
  auto json = c.Read(true);
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  EXPECT_EQ(json->Header("Content-Type"), "application/json");
}

TEST_F(StaticFilesTest, GetServesTheWholeFile) {
  const auto r = Get("/blob.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.body, blob_);
  const auto json = Get("/targets/app.json?cache=no");
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.body, "{\"version\": 1}\n");
  EXPECT_EQ(Get("/missing").status, 404);
}

TEST_F(StaticFilesTest, EachRangeFormGives206WithContentRange) {
  struct Case {
    std::string range;
    std::size_t first;
    std::size_t length;
  };
  for (const Case& c :
       {Case{"bytes=0-99", 0, 100}, Case{"bytes=1000-", 1000, kBlobSize - 1000},
        Case{"bytes=-500", kBlobSize - 500, 500}, Case{"bytes=299990-400000", 299990, 10}}) {
    const auto r = Get("/blob.bin", "Range: " + c.range + "\r\n");
    EXPECT_EQ(r.status, 206) << c.range;
    EXPECT_EQ(r.Header("Content-Range"), "bytes " + std::to_string(c.first) + "-" +
                                             std::to_string(c.first + c.length - 1) + "/" +
                                             std::to_string(kBlobSize))
        << c.range;
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(c.length)) << c.range;
    EXPECT_EQ(r.body, blob_.substr(c.first, c.length)) << c.range;
  }
}

TEST_F(StaticFilesTest, UnsatisfiableRangeGives416WithSize) {
  for (const char* range : {"bytes=300000-", "bytes=400000-400010", "bytes=-0"}) {
    const auto r = Get("/blob.bin", std::string("Range: ") + range + "\r\n");
    EXPECT_EQ(r.status, 416) << range;
    EXPECT_EQ(r.Header("Content-Range"), "bytes */300000") << range;
    EXPECT_TRUE(r.body.empty());
  }
}

TEST_F(StaticFilesTest, MultiRangeAndMalformedRangeGetTheFullBody) {
  for (const char* range : {"bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=x-y"}) {
    const auto r = Get("/blob.bin", std::string("Range: ") + range + "\r\n");
    EXPECT_EQ(r.status, 200) << range;
    EXPECT_EQ(r.body, blob_) << range;
  }
}

TEST_F(StaticFilesTest, IfNoneMatchWithCurrentEtagGives304) {
  const std::string etag = Get("/blob.bin").Header("ETag");
  ASSERT_FALSE(etag.empty());
  const auto same = Get("/blob.bin", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(same.status, 304);
  EXPECT_EQ(same.Header("ETag"), etag);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(Get("/blob.bin", "If-None-Match: \"other\", W/" + etag + "\r\n").status, 304);
  EXPECT_EQ(Get("/blob.bin", "If-None-Match: *\r\n").status, 304);
  const auto other = Get("/blob.bin", "If-None-Match: \"other\"\r\n");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, blob_);
}

TEST_F(StaticFilesTest, IfModifiedSinceGives304UnlessIfNoneMatchSaysOtherwise) {
  const std::string date = Get("/blob.bin").Header("Last-Modified");
  EXPECT_EQ(Get("/blob.bin", "If-Modified-Since: " + date + "\r\n").status, 304);
  EXPECT_EQ(Get("/blob.bin", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n").status, 200);
  EXPECT_EQ(Get("/blob.bin", "If-Modified-Since: garbage\r\n").status, 200);
  // If-None-Match takes precedence (RFC 9110 §13.2.2).
  EXPECT_EQ(
      Get("/blob.bin", "If-None-Match: \"other\"\r\nIf-Modified-Since: " + date + "\r\n").status,
      200);
}

TEST_F(StaticFilesTest, EtagChangesWhenTheFileChanges) {
  const std::string before = Get("/targets/app.json").Header("ETag");
  WriteFile(repo_ / "targets" / "app.json", "{\"version\": 2, \"longer\": true}\n");
  const auto after = Get("/targets/app.json", "If-None-Match: " + before + "\r\n");
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.Header("ETag"), before);
}

TEST_F(StaticFilesTest, IfRangeHonoursRangeOnlyWhenTheValidatorMatches) {
  const auto full = Get("/blob.bin");
  const std::string etag = full.Header("ETag");
  const std::string date = full.Header("Last-Modified");
  const auto match = Get("/blob.bin", "Range: bytes=10-19\r\nIf-Range: " + etag + "\r\n");
  EXPECT_EQ(match.status, 206);
  EXPECT_EQ(match.body, blob_.substr(10, 10));
  const auto by_date = Get("/blob.bin", "Range: bytes=10-19\r\nIf-Range: " + date + "\r\n");
  EXPECT_EQ(by_date.status, 206);
  for (const std::string& stale :
       {std::string("\"stale\""), "W/" + etag, std::string("Sun, 06 Nov 1994 08:49:37 GMT")}) {
    const auto mismatch = Get("/blob.bin", "Range: bytes=10-19\r\nIf-Range: " + stale + "\r\n");
    EXPECT_EQ(mismatch.status, 200) << stale;
    EXPECT_EQ(mismatch.body, blob_) << stale;
  }
}

TEST_F(StaticFilesTest, TraversalAttemptsAreRefusedWithoutLeakingOutsideFiles) {
  for (const char* target :
       {"/../secret.txt", "/targets/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
        "/targets/%2e%2e/%2e%2e/secret.txt", "/escape", "/escape-dir/secret.txt", "/absolute-link",
        "//etc/passwd", "/%2Fetc/passwd", "/blob.bin%00.json", "/%00", "/..%5csecret.txt",
        "http://127.0.0.1/../secret.txt", "secret.txt", "/dir", "/dir/", "/", "/targets"}) {
    const auto r = Get(target);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << " gave " << r.status;
    EXPECT_EQ(r.body.find(kSecret), std::string::npos) << target;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
  }
  // A symlink that stays inside the repository is served.
  EXPECT_EQ(Get("/inside-link").body, blob_);
  // Encoded but harmless names still work.
  EXPECT_EQ(Get("/targets/%61pp.json").status, 200);
}

TEST_F(StaticFilesTest, FilesPast4GiBKeepTheirSizeAndOffsets) {
  // A sparse 5 GiB file: sizes and positions past 2^32 must not be cut to 32 bits.
  constexpr std::uint64_t kSize = 5ull << 30;
  constexpr std::uint64_t kMark = (1ull << 32) + 1;
  const auto path = repo_ / "huge.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out.seekp(static_cast<std::streamoff>(kMark));
    out << "MARK";
  }
  stdfs::resize_file(path, kSize);
  RawConnection c(port_);
  c.Send("HEAD /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto head = c.Read(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->Header("Content-Length"), std::to_string(kSize));
  const auto r = Get("/huge.bin", "Range: bytes=" + std::to_string(kMark - 1) + "-" +
                                      std::to_string(kMark + 4) + "\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, std::string("\0MARK\0", 6));
  EXPECT_EQ(r.Header("Content-Range"), "bytes 4294967296-4294967301/5368709120");
  const auto tail = Get("/huge.bin", "Range: bytes=-3\r\n");
  EXPECT_EQ(tail.Header("Content-Range"), "bytes 5368709117-5368709119/5368709120");
}

TEST_F(StaticFilesTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection c(port_);
  c.Send("GET /targets/app.json HTTP/1.1\r\nHost: x\r\n\r\n");
  auto first = c.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  c.Send("GET /blob.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n");
  auto second = c.Read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 206);
  EXPECT_EQ(second->body, blob_.substr(0, 10));
  // Pipelined: two requests in one write, two responses in order.
  c.Send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  auto third = c.Read();
  auto fourth = c.Read();
  ASSERT_TRUE(third && fourth);
  EXPECT_EQ(third->status, 404);
  EXPECT_EQ(fourth->body, blob_);
}

TEST_F(StaticFilesTest, Http10ClosesUnlessAskedToKeepAlive) {
  {
    RawConnection c(port_);
    c.Send("GET /targets/app.json HTTP/1.0\r\n\r\n");
    const auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(c.PeerClosed());
  }
  RawConnection c(port_);
  c.Send("GET /targets/app.json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(c.Read());
  c.Send("GET /targets/app.json HTTP/1.0\r\n\r\n");
  const auto again = c.Read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(StaticFilesTest, BadRequestsGet4xxAndTheServerKeepsServing) {
  {
    RawConnection c(port_);
    c.Send("THIS IS NOT HTTP\r\n\r\n");
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(c.PeerClosed());
  }
  const struct {
    const char* what;
    std::string request;
    int status;
  } kRefused[] = {
      {"huge header",
       "GET /blob.bin HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n",
       431},
      {"huge target", "GET /" + std::string(100 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 431},
      {"bad Content-Length", "GET /blob.bin HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
       400},
      {"huge Content-Length",
       "GET /blob.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413},
  };
  for (const auto& bad : kRefused) {
    SCOPED_TRACE(bad.what);
    RawConnection c(port_);
    c.Send(bad.request);
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, bad.status);
  }
  {
    RawConnection c(port_);
    c.Send("POST /blob.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->Header("Allow"), "GET, HEAD");
  }
  {
    RawConnection c(port_);
    c.Send("GET /blob.bin HTTP/1.1\r\n");  // then hang up half-way
  }
  EXPECT_TRUE(server_->child().running());
  EXPECT_EQ(Get("/blob.bin").body, blob_);
}

size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

TEST_F(StaticFilesTest, LibcurlResumesADownloadWithRange) {
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  std::string body;
  const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/blob.bin";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(123456));
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, 206);
  EXPECT_EQ(body, blob_.substr(123456));
}

TEST_F(StaticFilesTest, FramingThatCouldBeReadTwoWaysIsRefusedAndTheConnectionClosed) {
  struct Case {
    std::string request;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {"POST /blob.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\n",
            501},
           {"POST /blob.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501},
           {"POST /blob.bin HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
           {"GET /blob.bin HTTP/1.1\r\n\r\n", 400},
           {"GET /blob.bin HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400}}) {
    RawConnection conn(port_);
    conn.Send(c.request + "GET /targets/app.json HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = conn.Read();
    ASSERT_TRUE(r.has_value()) << c.request;
    EXPECT_EQ(r->status, c.status) << c.request << r->body;
    EXPECT_TRUE(conn.PeerClosed()) << "nothing after it is read: " << c.request;
  }
  // HTTP/1.0 needs no Host.
  RawConnection old(port_);
  old.Send("GET /targets/app.json HTTP/1.0\r\n\r\n");
  auto r = old.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_F(StaticFilesTest, SigtermStopsTheServerWithinASecond) {
  // An idle keep-alive connection must not hold the exit up.
  RawConnection idle(port_);
  idle.Send("GET /targets/app.json HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(idle.Read());
  const auto start = std::chrono::steady_clock::now();
  server_->child().Signal(SIGTERM);
  EXPECT_EQ(server_->child().Wait(1000ms), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

class PeerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_ / "repo" / "app.json", "{}\n");
    server_ = std::make_unique<ServerProcess>(
        dir_ / "repo", std::vector<std::string>{"--max-connections-per-peer", "4"},
        dir_ / "server.log");
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::uint16_t port_ = 0;
};

TEST_F(PeerLimitsTest, StalledConnectionsFromOnePeerAreCappedAndOthersAreStillServed) {
  // Ten connections that never send a byte, from one address.
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 10; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(port_));
  }
  // The server closes every one past the fourth at once, before reading anything.
  for (std::size_t i = 4; i < stalled.size(); ++i) {
    EXPECT_TRUE(stalled[i]->PeerClosed(5s)) << "connection " << i;
  }
  // Another peer is served meanwhile.
  RawConnection other(port_, "127.0.0.2");
  other.Send("GET /app.json HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = other.Read();
  ASSERT_TRUE(r.has_value()) << server_->Log();
  EXPECT_EQ(r->status, 200);
  // The four it kept are real connections: each is served when it speaks.
  for (std::size_t i = 0; i < 4; ++i) {
    stalled[i]->Send("GET /app.json HTTP/1.1\r\nHost: x\r\n\r\n");
    auto kept = stalled[i]->Read();
    ASSERT_TRUE(kept.has_value()) << "connection " << i;
    EXPECT_EQ(kept->status, 200);
  }
  // Once the peer lets go, it gets its share back.
  stalled.clear();
  EXPECT_TRUE(WaitFor([&] {
    auto again = Fetch(port_, "GET", "/app.json");
    return again.has_value() && again->status == 200;
  }));
}

}  // namespace
}  // namespace ferry::testing
