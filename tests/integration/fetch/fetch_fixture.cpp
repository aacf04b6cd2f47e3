#include "fetch_fixture.hpp"

#include <fstream>
#include <sstream>

#include "ferry/update/state_store_resume.hpp"

namespace ferry::testing {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void FetchTest::SetUp() {
  repo_ = dir_ / "repo";
  blob_ = PatternBytes(kBlobSize, 3);
  digest_ = Sha256Digest(blob_);
  WriteFile(repo_ / "blobs" / "blob.bin", blob_);
  std::filesystem::create_directories(dir_ / "blobs" / "partial");
  partial_ = dir_ / "blobs" / "partial" / digest_.substr(7);
}

void FetchTest::Start(const std::vector<std::string>& faults) {
  std::vector<std::string> args;
  for (const auto& f : faults) {
    args.push_back("--fault");
    args.push_back(f);
  }
  server_ = std::make_unique<ServerProcess>(repo_, args, dir_ / "server.log");
  ASSERT_NE(server_->port(), 0);
}

std::string FetchTest::Url(const std::string& name) const {
  return "http://127.0.0.1:" + std::to_string(server_->port()) + "/blobs/" + name;
}

fetch::BlobRequest FetchTest::Request(const std::string& name) const {
  return fetch::BlobRequest{Url(name), digest_, kBlobSize, partial_};
}

fetch::BlobFetcherOptions FetchTest::Options() {
  fetch::BlobFetcherOptions o;
  o.connect_timeout = std::chrono::seconds(5);
  // Loose enough that a loaded test machine never trips it; the throughput test sets its own.
  o.min_throughput = 1;
  o.min_throughput_window = std::chrono::seconds(30);
  o.backoff.base = std::chrono::milliseconds(200);
  o.backoff.max = std::chrono::milliseconds(5000);
  o.backoff.min = std::chrono::milliseconds(50);
  o.backoff.attempts = 5;
  o.seed = 12345;
  o.sleep = [this](std::chrono::milliseconds d, const fetch::CancelToken*) {
    std::lock_guard lock(mu_);
    sleeps_.push_back(d);
  };
  return o;
}

void FetchTest::FetchResumingFrom(store::StateStore& store, std::uint64_t kept) {
  auto resume = update::MakeStateStoreResume(store);
  auto options = Options();
  options.resume_store = resume.get();
  const auto r = fetch::MakeCurlBlobFetcher(clock_, options)->Fetch(Request());
  ASSERT_TRUE(r) << r.error().String();
  EXPECT_EQ(ReadAll(partial_), blob_);
  EXPECT_EQ(r->resumed_from, kept);
  EXPECT_EQ(r->bytes_received, kBlobSize - kept);
  EXPECT_EQ(r->restarts, 0u);
}

std::vector<std::chrono::milliseconds> FetchTest::Sleeps() {
  std::lock_guard lock(mu_);
  return sleeps_;
}

}  // namespace ferry::testing
