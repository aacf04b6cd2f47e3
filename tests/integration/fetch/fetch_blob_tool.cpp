// A minimal program that fetches one blob with a state database, so a test can SIGKILL it in the
// middle of a transfer, as a power cut or the OOM killer would stop ferryd.
//   fetch_blob_tool URL DIGEST SIZE PARTIAL_PATH STATE_DB
// Exit status: 0 fetched, 3 out of space (Errc::kNoSpace), 1 any other failure, 2 usage.
#include <cstdio>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/fetch/curl_blob_fetcher.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/state_store_resume.hpp"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: fetch_blob_tool URL DIGEST SIZE PARTIAL_PATH STATE_DB\n");
    return 2;
  }
  const ferry::SystemClock clock;
  auto store = ferry::store::OpenStateStore(argv[5], clock);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().String().c_str());
    return 1;
  }
  auto resume = ferry::update::MakeStateStoreResume(**store);
  ferry::fetch::BlobFetcherOptions options;
  options.resume_store = resume.get();
  const auto r = ferry::fetch::MakeCurlBlobFetcher(clock, options)
                     ->Fetch({argv[1], argv[2], std::stoull(argv[3]), argv[4]});
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().String().c_str());
    return r.error().Is(ferry::Errc::kNoSpace) ? 3 : 1;
  }
  return 0;
}
