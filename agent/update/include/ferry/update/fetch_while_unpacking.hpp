// Unpacking a layer while its blob downloads (issue #19): the fetcher writes the partial file on a
// thread of its own, and the caller's `unpack` reads the same file as it grows through a
// layers::GrowingFileSource. That source ends only once the fetcher has verified the whole blob
// (signed size and sha256, fsynced) AND the bytes it handed out hash to the signed digest, so an
// unpack that renames its result into place only at the end of its source (engine::UnpackLayer,
// layers::StageLayer) never keeps a tree built from bytes that were not verified: a blob that does
// not hash to its digest, a download that fails or is cancelled, leave nothing staged.
//
// Blocking: run it on ferryd's worker. Memory: the source's one 256 KiB chunk, plus what `unpack`
// holds; the blob itself is on disk (the partial file, resumable as any download).
#pragma once

#include <functional>

#include "ferry/core/result.hpp"
#include "ferry/fetch/blob_fetcher.hpp"
#include "ferry/layers/byte_source.hpp"

namespace ferry::update {

struct FetchAndUnpack {
  Result<fetch::FetchStats> fetched;  // the fetcher's outcome, as BlobFetcher::Fetch returns it
  Status unpacked;                    // `unpack`'s outcome
};

// Fetches `request` with `fetcher` (progress to `progress`, stopped by `cancel`) while `unpack`
// reads the blob's bytes on the calling thread. The download runs to its end whatever `unpack`
// does, so that a blob whose unpacking could not follow it (the fetcher started the file over, as
// after a server that ignored Range: Errc::kCorrupt) is still there, complete, to be unpacked from
// the file. When the download fails, `unpack` sees its error after the bytes already written.
FetchAndUnpack FetchWhileUnpacking(fetch::BlobFetcher& fetcher, const fetch::BlobRequest& request,
                                   const fetch::ProgressFn& progress,
                                   const fetch::CancelToken* cancel,
                                   const std::function<Status(layers::ByteSource&)>& unpack);

}  // namespace ferry::update
