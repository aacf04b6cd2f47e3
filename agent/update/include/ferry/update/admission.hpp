// One admission path for every release, whether it comes from the repository (RemoteInstaller)
// or from an offline bundle (`ferry install`): its signature has been checked by the same TUF
// client; then the engine's refusals (a version marked bad, a downgrade not signed as one,
// min_from_version, another device class), then free space with the `min_free_bytes` and
// `min_free_inodes` margins. Nothing is downloaded or unpacked before a release is admitted.
//
// Blocking (statvfs, the state database); run it on ferryd's worker.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "ferry/config/config.hpp"
#include "ferry/core/result.hpp"
#include "ferry/engine/engine.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/store/state_store.hpp"
#include "ferry/update/download_plan.hpp"

namespace ferry::update {

// Layers the device has complete on disk (the store says so and the directory is there).
std::set<std::string> PresentLayers(store::StateStore& store, const engine::Layout& layout);

// Room an offline bundle of `size` bytes (as ferryd opened it) needs before it is unpacked: its
// own size (its blobs are copied out of it) on the state filesystem, plus the configured margin.
// Errc::kNoSpace otherwise, naming the bundle; Errc::kIo when the filesystem cannot be examined.
Status AdmitBundleFile(const std::filesystem::path& bundle, std::uint64_t size,
                       const engine::Layout& layout, const config::LimitsConfig& limits);

// Admits `manifest` (verified, as `manifest_bytes`): the engine's refusals
// (Errc::kFailedPrecondition and the like), then space for what `plan` still has to bring
// (`download` counts the plan's downloads; false when the blobs are already here, as in a bundle)
// and unpack, less `bytes_on_disk` already downloaded for it. `retry_bad`: a release marked bad
// here is admitted (retried on purpose). Errc::kNoSpace, naming the release,
// when that and the margin do not fit.
Status Admit(engine::Engine& engine, const engine::Layout& layout,
             const manifest::Manifest& manifest, std::string_view manifest_bytes,
             const DownloadPlan& plan, bool download, std::uint64_t bytes_on_disk,
             const config::LimitsConfig& limits, bool retry_bad = false);

}  // namespace ferry::update
