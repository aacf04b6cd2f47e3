// Each fault of ferry-server, as a client sees it, set at start-up (--fault) or at run time
// (/_faults with the admin token).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "raw_http.hpp"
#include "server_process.hpp"

namespace ferry::testing {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kBlobSize = 200'000;
constexpr std::size_t kSmallSize = 64 * 1024;
const std::string kToken = "s3cret-admin-token";

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    blob_ = PatternBytes(kBlobSize, 7);
    small_ = PatternBytes(kSmallSize, 9);
    WriteFile(repo_ / "blobs" / "big.bin", blob_);
    WriteFile(repo_ / "small.bin", small_);
    WriteFile(repo_ / "root.json", "{\"signed\": {}}\n");
    WriteFile(dir_ / "token", kToken + "\n");
  }

  void Start(std::vector<std::string> args) {
    args.push_back("--admin-token-file");
    args.push_back((dir_ / "token").string());
    server_ = std::make_unique<ServerProcess>(repo_, args, dir_ / "server.log");
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  RawResponse Get(std::string_view target, std::string_view headers = {}) {
    return ferry::testing::Get(port_, target, headers);
  }

  RawResponse Admin(std::string_view method, std::string_view body,
                    std::string_view token = kToken) {
    std::string headers;
    if (!token.empty()) {
      headers += "Authorization: Bearer " + std::string(token) + "\r\n";
    }
    headers += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + std::string(body);
    RawConnection c(port_);
    c.Send(std::string(method) + " /_faults HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
           headers);
    return c.Read().value_or(RawResponse{});
  }

  TempDir dir_;
  stdfs::path repo_;
  std::string blob_;
  std::string small_;
  std::unique_ptr<ServerProcess> server_;
  std::uint16_t port_ = 0;
};

TEST_F(FaultsTest, DropClosesTheConnectionAfterNBodyBytes) {
  Start({"--fault", "drop:after=1000,path=/blobs/*"});
  RawConnection c(port_);
  c.Send("GET /blobs/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Length"), std::to_string(kBlobSize));  // promises the whole body
  EXPECT_FALSE(r->complete);
  EXPECT_EQ(r->body, blob_.substr(0, 1000));
  EXPECT_TRUE(c.PeerClosed());
  // Other paths are untouched.
  EXPECT_EQ(Get("/small.bin").body, small_);
}

TEST_F(FaultsTest, DropAppliesToRangeResponsesToo) {
  Start({"--fault", "drop:after=10"});
  const auto r = Get("/blobs/big.bin", "Range: bytes=5000-\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, blob_.substr(5000, 10));
  EXPECT_FALSE(r.complete);
}

TEST_F(FaultsTest, ThrottleSlowsTheBodyDown) {
  Start({"--fault", "throttle:rate=32768,path=/small.bin"});
  const auto start = std::chrono::steady_clock::now();
  const auto r = Get("/small.bin");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.body, small_);
  // 64 KiB at 32 KiB/s is 2 s; allow for slicing, never much faster.
  EXPECT_GE(elapsed, 1500ms);
  EXPECT_LT(elapsed, 8s);
}

TEST_F(FaultsTest, FlipChangesExactlyTheByteAtTheOffset) {
  Start({"--fault", "flip:offset=100"});
  const auto r = Get("/blobs/big.bin");
  ASSERT_EQ(r.body.size(), blob_.size());
  std::vector<std::size_t> differ;
  for (std::size_t i = 0; i < blob_.size(); ++i) {
    if (r.body[i] != blob_[i]) {
      differ.push_back(i);
    }
  }
  EXPECT_EQ(differ, std::vector<std::size_t>{100});
  // The offset is within the file: a range that covers it carries the flipped byte at its place.
  const auto part = Get("/blobs/big.bin", "Range: bytes=50-149\r\n");
  ASSERT_EQ(part.body.size(), 100u);
  EXPECT_NE(part.body[50], blob_[100]);
  EXPECT_EQ(part.body.substr(0, 50), blob_.substr(50, 50));
  EXPECT_EQ(part.body.substr(51), blob_.substr(101, 49));
  // A range past the offset is clean.
  EXPECT_EQ(Get("/blobs/big.bin", "Range: bytes=101-\r\n").body, blob_.substr(101));
}

TEST_F(FaultsTest, StatusAnswers429And503WithRetryAfter) {
  Start({"--fault", "status:code=429,retry-after=7,path=/root.json", "--fault",
         "status:code=503,retry-after=2,path=/blobs/*"});
  const auto limited = Get("/root.json");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Header("Retry-After"), "7");
  const auto unavailable = Get("/blobs/big.bin");
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.Header("Retry-After"), "2");
  EXPECT_EQ(unavailable.body.find(blob_.substr(0, 64)), std::string::npos);
  EXPECT_EQ(Get("/small.bin").status, 200);
}

TEST_F(FaultsTest, IgnoreRangeSendsTheFull200Body) {
  Start({"--fault", "ignore-range"});
  const auto r = Get("/blobs/big.bin", "Range: bytes=1000-1999\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.Has("Content-Range"));
  EXPECT_EQ(r.body, blob_);
}

TEST_F(FaultsTest, ContentRangeFaultMislabelsThe206) {
  Start({"--fault", "content-range:shift=1"});
  const auto r = Get("/blobs/big.bin", "Range: bytes=1000-1999\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"), "bytes 1001-2000/200000");
  EXPECT_EQ(r.body, blob_.substr(1000, 1000));   // the bytes are those asked for, the label lies
  EXPECT_EQ(Get("/blobs/big.bin").status, 200);  // no range, nothing to mislabel
}

TEST_F(FaultsTest, FirstLimitLetsTheRetrySucceed) {
  Start({"--fault", "drop:after=10,first=2,path=/small.bin"});
  EXPECT_FALSE(Get("/small.bin").complete);
  EXPECT_FALSE(Get("/small.bin").complete);
  const auto third = Get("/small.bin");
  EXPECT_TRUE(third.complete);
  EXPECT_EQ(third.body, small_);
}

TEST_F(FaultsTest, BadFaultSpecStopsStartUpWithAReason) {
  const auto r =
      ferry::testing::Run({BuiltProgram("ferry-server").string(), "serve", "--repo", repo_.string(),
                           "--listen", "127.0.0.1:0", "--fault", "drop:afterr=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("takes no key 'afterr'"), std::string::npos) << r.err;
}

TEST_F(FaultsTest, RuntimeEndpointNeedsTheToken) {
  Start({});
  const std::string body = R"({"faults": ["status:code=503,retry-after=3"]})";
  const auto none = Admin("POST", body, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(none.Has("WWW-Authenticate"));
  EXPECT_EQ(Admin("POST", body, "wrong-token").status, 401);
  EXPECT_EQ(Admin("POST", body, kToken + "x").status, 401);
  EXPECT_EQ(Admin("GET", "", "").status, 401);
  EXPECT_EQ(Admin("DELETE", "", "nope").status, 401);
  // Nothing was added by the refused calls.
  EXPECT_EQ(Get("/small.bin").status, 200);
}

TEST_F(FaultsTest, WrongTokensAreBudgetedBeforeAnyTokenIsCompared) {
  Start({});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Admin("GET", "", "guess-" + std::to_string(i)).status, 401) << i;
  }
  const auto over = Admin("GET", "", "guess-10");
  EXPECT_EQ(over.status, 429);
  EXPECT_FALSE(over.Header("Retry-After").empty());
  EXPECT_EQ(Admin("GET", "", kToken).status, 429) << "the right token waits too";
  // One failure a second comes back.
  EXPECT_TRUE(WaitFor([&] { return Admin("GET", "", kToken).status == 200; }));
}

TEST_F(FaultsTest, DeeplyNestedFaultListIsRefusedBeforeParsing) {
  Start({});
  const auto deep = Admin("POST", "{\"faults\": " + std::string(20'000, '[') + "}");
  EXPECT_EQ(deep.status, 400);
  EXPECT_NE(deep.body.find("nested deeper than"), std::string::npos) << deep.body;
  EXPECT_EQ(Admin("GET", "").status, 200);
}

TEST_F(FaultsTest, RuntimeEndpointAddsListsAndClearsFaults) {
  Start({});
  EXPECT_EQ(Get("/small.bin").body, small_);
  const auto added = Admin(
      "POST",
      R"({"faults": ["drop:after=5,path=/small.bin,first=1", "flip:offset=3,path=/root.json"]})");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.Header("Content-Type"), "application/json");
  const auto dropped = Get("/small.bin");
  EXPECT_EQ(dropped.body, small_.substr(0, 5));
  EXPECT_EQ(Get("/small.bin").body, small_);  // first=1: the retry succeeds
  EXPECT_NE(Get("/root.json").body, "{\"signed\": {}}\n");

  const auto listed = Admin("GET", "");
  ASSERT_EQ(listed.status, 200);
  const auto json = nlohmann::json::parse(listed.body);
  ASSERT_EQ(json["faults"].size(), 2u);
  EXPECT_EQ(json["faults"][0]["spec"], "drop:after=5,path=/small.bin,first=1");
  EXPECT_EQ(json["faults"][0]["hits"], 1);
  EXPECT_EQ(json["faults"][1]["hits"], 1);

  const auto cleared = Admin("DELETE", "");
  EXPECT_EQ(cleared.status, 200);
  EXPECT_EQ(nlohmann::json::parse(cleared.body)["faults"].size(), 0u);
  EXPECT_EQ(Get("/root.json").body, "{\"signed\": {}}\n");
}

TEST_F(FaultsTest, RuntimeEndpointRefusesMalformedBodiesAndKeepsNothing) {
  Start({});
  for (const char* body : {"not json", "{}", R"({"faults": "drop:after=1"})", R"({"faults": [1]})",
                           R"({"faults": ["throttle:rate=10", "drop:after=x"]})"}) {
    const auto r = Admin("POST", body);
    EXPECT_EQ(r.status, 400) << body;
  }
  EXPECT_EQ(nlohmann::json::parse(Admin("GET", "").body)["faults"].size(), 0u);
  // An oversized body is refused before it is read.
  RawConnection c(port_);
  c.Send("POST /_faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
         "\r\nContent-Length: 10000000\r\n\r\n");
  const auto big = c.Read();
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
}

TEST_F(FaultsTest, SlowTransfersDoNotHoldUpOtherClients) {
  // One event-loop thread: concurrency comes from asynchronous I/O, not from threads.
  Start({"--threads", "1", "--fault", "throttle:rate=1000,path=/blobs/*"});
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port_));
    slow.back()->Send("GET /blobs/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (auto& c : slow) {
    const auto r = c->Read(/*head=*/true);  // the header arrives; the body trickles
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Get("/small.bin").body, small_);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(FaultsTest, SigintDuringATransferStopsTheServerWithinASecond) {
  Start({"--fault", "throttle:rate=1000"});
  RawConnection c(port_);
  c.Send("GET /blobs/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(c.Read(/*head=*/true));
  const auto start = std::chrono::steady_clock::now();
  server_->child().Signal(SIGINT);
  EXPECT_EQ(server_->child().Wait(1000ms), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  // Body bytes sent before the signal may still be unread: the close comes after them.
  EXPECT_TRUE(c.PeerClosed(1s));
}

TEST_F(FaultsTest, WithoutATokenFileThereIsNoAdminEndpoint) {
  server_ = std::make_unique<ServerProcess>(repo_, std::vector<std::string>{}, dir_ / "plain.log");
  port_ = server_->port();
  const auto r = Admin("POST", R"({"faults": ["status"]})");
  EXPECT_EQ(r.status, 405);  // only the repository's GET and HEAD exist
  EXPECT_EQ(Get("/small.bin").status, 200);
}

}  // namespace
}  // namespace ferry::testing
