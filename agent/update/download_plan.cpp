#include "ferry/update/download_plan.hpp"

#include <sys/statvfs.h>

#include <cerrno>

#include "ferry/config/config.hpp"

namespace ferry::update {
namespace {

std::string Mib(std::uint64_t bytes) {
  const std::uint64_t tenths = (bytes * 10 + (1u << 19)) >> 20;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
}

// a + b, saturating: sizes come from a signed manifest but may still be absurd.
std::uint64_t Add(std::uint64_t a, std::uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

}  // namespace

DownloadPlan PlanDownloads(const manifest::Manifest& manifest,
                           const std::set<std::string>& present) {
  DownloadPlan plan;
  std::set<std::string> planned;
  for (const manifest::Layer& layer : manifest.layers) {
    if (!planned.insert(layer.diff_id).second) {
      continue;  // a layer listed twice is fetched and staged once
    }
    LayerStep step;
    step.diff_id = layer.diff_id;
    if (present.contains(layer.diff_id)) {
      step.source = LayerSource::kPresent;
      plan.steps.push_back(std::move(step));
      continue;
    }
    step.source = LayerSource::kFullBlob;
    step.blob = layer.blob;
    step.unpacked_size = layer.size;
    for (const manifest::Delta& delta : layer.deltas) {
      // A tie goes to the full blob: it needs no base layer and no patching.
      if (present.contains(delta.from_diff_id) && delta.blob.size < step.blob.size) {
        step.source = LayerSource::kDelta;
        step.blob = delta.blob;
        step.from_diff_id = delta.from_diff_id;
      }
    }
    plan.download_bytes = Add(plan.download_bytes, step.blob.size);
    plan.unpacked_bytes = Add(plan.unpacked_bytes, step.unpacked_size);
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

Status CheckFreeSpace(const std::filesystem::path& dir, std::uint64_t bytes_needed,
                      std::uint64_t inodes_needed, const config::LimitsConfig& limits) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) {
    const int err = errno;
    return Fail(Errc::kIo, "checking free space of " + dir.string() +
                               ": statvfs: " + std::generic_category().message(err));
  }
  const std::uint64_t unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
  const std::uint64_t free_bytes =
      st.f_bavail > UINT64_MAX / std::max<std::uint64_t>(unit, 1) ? UINT64_MAX : st.f_bavail * unit;
  const std::uint64_t want_bytes = Add(bytes_needed, limits.min_free_bytes);
  if (free_bytes < want_bytes) {
    return Fail(Errc::kNoSpace, "not enough space on " + dir.string() + ": need " +
                                    Mib(bytes_needed) + " (" + std::to_string(bytes_needed) +
                                    " bytes) plus a margin of " + Mib(limits.min_free_bytes) +
                                    ", " + Mib(free_bytes) + " (" + std::to_string(free_bytes) +
                                    " bytes) free");
  }
  if (st.f_files != 0) {
    const std::uint64_t want_inodes = Add(inodes_needed, limits.min_free_inodes);
    if (st.f_favail < want_inodes) {
      return Fail(Errc::kNoSpace, "not enough inodes on " + dir.string() + ": need " +
                                      std::to_string(inodes_needed) + " plus a margin of " +
                                      std::to_string(limits.min_free_inodes) + ", " +
                                      std::to_string(st.f_favail) + " free");
    }
  }
  return Ok();
}

}  // namespace ferry::update
