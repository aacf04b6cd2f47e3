#include "ferry/update/fetch_while_unpacking.hpp"

#include <thread>
#include <utility>

#include "ferry/layers/growing_file_source.hpp"

namespace ferry::update {

FetchAndUnpack FetchWhileUnpacking(fetch::BlobFetcher& fetcher, const fetch::BlobRequest& request,
                                   const fetch::ProgressFn& progress,
                                   const fetch::CancelToken* cancel,
                                   const std::function<Status(layers::ByteSource&)>& unpack) {
  layers::GrowingFileSource growing(request.partial_path, request.digest, request.size);
  FetchAndUnpack result{std::unexpected(MakeError(Errc::kIo, "not fetched")), Ok()};
  std::thread download([&] {
    result.fetched = fetcher.Fetch(
        request,
        [&](std::uint64_t done, std::uint64_t total) {
          growing.Grew(done);
          if (progress) {
            progress(done, total);
          }
        },
        cancel);
    growing.Finish(result.fetched ? Ok() : Status(std::unexpected(result.fetched.error())));
  });
  result.unpacked = unpack(growing);
  download.join();
  return result;
}

}  // namespace ferry::update
