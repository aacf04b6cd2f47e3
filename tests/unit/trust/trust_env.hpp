// One client and one in-memory repository, wired together for updater tests: the repository's
// files are served by a fake HttpClient that records each request and its byte limit.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "ferry/core/clock.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/trust/error.hpp"
#include "ferry/trust/file_metadata_store.hpp"
#include "ferry/trust/updater.hpp"
#include "support/temp_dir.hpp"
#include "test_repository.hpp"

namespace ferry::trust::testing {

inline const std::chrono::system_clock::time_point kStart{std::chrono::seconds(1'800'000'000)};

// Passes when `result` is an error with `code`; otherwise says what came instead.
template <class T>
::testing::AssertionResult FailedWith(const Result<T>& result, TrustErrc code) {
  if (result) {
    return ::testing::AssertionFailure() << "succeeded";
  }
  if (!result.error().Is(code)) {
    return ::testing::AssertionFailure() << "failed otherwise: " << result.error().String();
  }
  return ::testing::AssertionSuccess();
}

class RepoHttp final : public fetch::HttpClient {
 public:
  explicit RepoHttp(std::map<std::string, std::string>& files) : files_(files) {}

  Result<std::string> Get(const std::string& url, std::uint64_t max_bytes) override {
    requests.emplace_back(url, max_bytes);
    const std::string prefix = "http://repo/";
    if (!url.starts_with(prefix)) {
      return Fail(fetch::FetchErrc::kBadUrl, url);
    }
    const auto it = files_.find(url.substr(prefix.size()));
    if (it == files_.end()) {
      return Fail(fetch::FetchErrc::kNotFound, "GET " + url + ": HTTP 404");
    }
    if (it->second.size() > max_bytes) {
      return Fail(fetch::FetchErrc::kTooLarge, "GET " + url + ": too large");
    }
    return it->second;
  }

  bool Requested(const std::string& path) const {
    for (const auto& [url, max] : requests) {
      if (url == "http://repo/" + path) {
        return true;
      }
    }
    return false;
  }

  std::vector<std::pair<std::string, std::uint64_t>> requests;

 private:
  std::map<std::string, std::string>& files_;
};

struct Env {
  explicit Env(KeyType type = KeyType::kEd25519)
      : clock(kStart), repo(type, kStart), http(repo.files), store(dir / "metadata") {
    repo.PublishRoot();
    repo.Publish();
    EXPECT_TRUE(TrustRoot(store, repo.files.at("metadata/1.root.json")));
  }

  UpdaterConfig Config() const {
    UpdaterConfig c;
    c.metadata_base_url = "http://repo/metadata";
    c.targets_base_url = "http://repo/targets";
    return c;
  }

  // A fresh updater, as after a restart: all it knows comes from the store.
  std::unique_ptr<Updater> NewUpdater() {
    return std::make_unique<Updater>(store, http, clock, Config());
  }
  Status Refresh() { return NewUpdater()->Refresh(); }

  Result<std::string> Download(const std::string& target) {
    auto updater = NewUpdater();
    auto info = updater->GetTargetInfo(target);
    if (!info) {
      return std::unexpected(info.error());
    }
    return updater->DownloadTarget(*info);
  }

  // Version of the role the client trusts (0 when none is stored).
  std::uint64_t Trusted(const std::string& role) {
    auto bytes = store.Load(role);
    if (!bytes || !*bytes) {
      return 0;
    }
    auto md = ParseMetadata(**bytes, role == "root" || role == "timestamp" || role == "snapshot"
                                         ? role
                                         : std::string("targets"));
    return md ? md->version : 0;
  }

  ferry::testing::TempDir dir;
  ManualClock clock;
  TestRepository repo;
  RepoHttp http;
  FileMetadataStore store;
};

}  // namespace ferry::trust::testing
