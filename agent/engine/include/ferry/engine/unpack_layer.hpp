// Unpacking one layer's full blob (a zstd-compressed tar) into the layer store, as the engine does
// whether the blob is a finished file or still arriving (update::FetchWhileUnpacking): the signed
// limits of the layer applied, zstd decoded on a read-ahead thread, the tar's sha256 checked
// against the layer's diff_id, synced and renamed into place only then (layers::StageLayer).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "ferry/core/result.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::engine {

// Unpacks `layer` from `blob`, the bytes of its full blob, into <layers_dir>/<hex of diff_id>.
// Nothing is left under the layer's name unless `blob` ended without error and the tar hashed to
// the diff_id: a blob source that fails (a download that did not verify, Errc::kCorrupt of a
// GrowingFileSource) fails this with its error and the partial tree is removed. `stop` (may be
// empty) ends it with Errc::kCancelled. Blocking; writes no database record.
Result<layers::ExtractResult> UnpackLayerBlob(layers::ByteSource& blob,
                                              const std::filesystem::path& layers_dir,
                                              const manifest::Layer& layer,
                                              std::function<bool()> stop);

// UnpackLayerBlob into `layout`'s layer store with the layer's records in `store`: `staging`
// before, `complete` only once it is in place. Ok without reading `blob` when the layer is
// complete already. Returns what the extractor stripped (StrippedNote), empty when nothing. A
// layer unpacked before its release is recorded belongs to no revision until an install of that
// release stages it (then it is found complete); until then garbage collection and start-up
// recovery may remove it. Run it where installs run (ferryd's worker): it takes no engine lock.
Result<std::string> UnpackLayer(store::StateStore& store, const Layout& layout,
                                const manifest::Layer& layer, layers::ByteSource& blob,
                                const std::function<bool()>& stop);

// What the extractor took away from a layer instead of refusing it (setuid/setgid bits, file
// capabilities), for the log and the history; empty when nothing was.
std::string StrippedNote(const std::string& diff_id, const layers::ExtractResult& r);

}  // namespace ferry::engine
