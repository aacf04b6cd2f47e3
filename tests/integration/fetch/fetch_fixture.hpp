// Shared set-up for the blob fetcher's integration tests: a repository with one blob, the real
// ferry-server in front of it (with faults), and fetcher options whose waits are recorded instead
// of slept.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/core/digest.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/store/state_store.hpp"
#include "server_process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {

std::string ReadAll(const std::filesystem::path& path);

class FetchTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kBlobSize = 300'000;

  void SetUp() override;

  // Starts ferry-server on the repository with `faults` (each a --fault SPEC).
  void Start(const std::vector<std::string>& faults = {});

  std::string Url(const std::string& name = "blob.bin") const;
  fetch::BlobRequest Request(const std::string& name = "blob.bin") const;
  // Options with short backoff and a sleeper that records each wait and returns at once.
  fetch::BlobFetcherOptions Options();
  std::vector<std::chrono::milliseconds> Sleeps();
  // Fetches the blob with its progress kept in `store`, and checks that it resumed from the `kept`
  // bytes of the partial file left by an interrupted fetch. Call inside ASSERT_NO_FATAL_FAILURE.
  void FetchResumingFrom(store::StateStore& store, std::uint64_t kept);

  SystemClock clock_;
  TempDir dir_;
  std::filesystem::path repo_;
  std::filesystem::path partial_;
  std::string blob_;
  std::string digest_;
  std::unique_ptr<ServerProcess> server_;

 private:
  std::mutex mu_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

}  // namespace ferry::testing
