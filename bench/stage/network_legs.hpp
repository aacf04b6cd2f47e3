// The network legs of bench_stage: a blob served by ferry-server on 127.0.0.1, fetched and staged
// by Ferry the way ferryd does it (a full layer: update::FetchWhileUnpacking with
// engine::UnpackLayerBlob; a delta: BlobFetcher, then DeltaSource and StageLayer), next to the
// curl | zstd -d | tee | tar pipeline on the same blob, with the same checks (sha256 of the
// compressed stream and of the tar).
#pragma once

#include <filesystem>
#include <string>

#include "measure.hpp"

namespace ferry::bench {

struct LegResult {
  Row ferry;       // fetch to the end, then stage from the file (ferryd before issue #19)
  Row overlapped;  // ferryd's path: unpack the partial file while the fetcher writes it (layer leg)
  Row pipeline;
};

// A full layer: `blob` is the zstd-compressed tar whose sha256 is `diff_id`. Ferry runs twice:
// fetch then stage, and as ferryd does (FetchWhileUnpacking, UnpackLayerBlob; unpacked again from
// the finished file if the download started over). Works in `dir`
// (a repository, partial files, layers and extraction folders below it), `runs` runs each.
// Returns false when the leg could not be set up (it says why).
bool RunLayerLeg(const std::filesystem::path& dir, const std::filesystem::path& blob,
                 const std::string& diff_id, int runs, LegResult* result);

// The shared Debian security update: `data` holds debian-update-v1.tar.zst and -v2.tar.zst. The
// v1 layer is staged first; Ferry fetches its delta to v2 (made by ferry-publish delta), rebuilds
// the v2 tar from the unpacked v1 layer and stages it, as the engine's DeltaSource does. The peer
// fetches a whole-tar `zstd -19 --long=27 --patch-from=v1.tar` patch and decodes it against the
// v1 tar.
bool RunDeltaLeg(const std::filesystem::path& dir, const std::filesystem::path& data, int runs,
                 LegResult* result);

}  // namespace ferry::bench
