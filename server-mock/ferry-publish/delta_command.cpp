// ferry-publish delta --old OLD --new NEW.tar --out FILE [--jobs N] [--xz-preset P]
//                     [--max-format-version V]
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "command.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::publish {

namespace {
struct DeltaArgs {
  std::string old_path, new_tar, out;
  unsigned jobs = delta::DefaultEncodeJobs();
  int xz_preset = 9;
  std::uint32_t max_version = 2;
  bool quiet = false;
};
}  // namespace

CommandRun SetupDeltaCommand(CLI::App& sub) {
  auto args = std::make_shared<DeltaArgs>();
  sub.add_option("--old", args->old_path, "Old layer: a tar or an unpacked directory")->required();
  sub.add_option("--new", args->new_tar, "New layer tar")->required();
  sub.add_option("--out", args->out, "Delta file to write")->required();
  sub.add_option("--jobs,--threads", args->jobs,
                 "Files encoded in parallel (the delta is the same for any number)")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  sub.add_option("--xz-preset", args->xz_preset, "xz preset of the streams (0-9)")
      ->check(CLI::Range(0, 9))
      ->capture_default_str();
  sub.add_option("--max-format-version", args->max_version,
                 "Newest delta format version to write (1: for devices that decode only version 1)")
      ->check(CLI::Range(1u, 2u))
      ->capture_default_str();
  sub.add_flag("-q,--quiet", args->quiet, "Print nothing on success");
  return [args]() -> int {
    auto start = std::chrono::steady_clock::now();
    auto old = delta::LoadOldLayer(args->old_path);
    if (!old) {
      std::fprintf(stderr, "ferry-publish delta: old layer %s: %s\n", args->old_path.c_str(),
                   old.error().String().c_str());
      return 1;
    }
    delta::EncodeOptions options;
    options.jobs = args->jobs;
    options.xz_preset = args->xz_preset;
    options.max_version = args->max_version;
    auto stats = delta::EncodeDelta(*old, args->new_tar, args->out, options);
    if (!stats) {
      std::fprintf(stderr, "ferry-publish delta: %s\n", stats.error().String().c_str());
      return 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!args->quiet) {
      std::printf(
          "delta %s: %llu bytes for a %llu-byte tar (%.2f%%) in %.1f s\n"
          "files %llu: unchanged %llu, full %llu, zstd patch %llu, suffix-array patch %llu, "
          "gzip rebuilt %llu "
          "(renamed %llu)\n"
          "streams: commands %llu, meta %llu, diff %llu, data %llu\n",
          args->out.c_str(), static_cast<unsigned long long>(stats->delta_size),
          static_cast<unsigned long long>(stats->new_size),
          stats->new_size ? 100.0 * static_cast<double>(stats->delta_size) /
                                static_cast<double>(stats->new_size)
                          : 0.0,
          secs, static_cast<unsigned long long>(stats->files),
          static_cast<unsigned long long>(stats->unchanged),
          static_cast<unsigned long long>(stats->full),
          static_cast<unsigned long long>(stats->zstd_patch),
          static_cast<unsigned long long>(stats->sa_patch),
          static_cast<unsigned long long>(stats->gzip),
          static_cast<unsigned long long>(stats->renamed),
          static_cast<unsigned long long>(stats->stream_sizes[0]),
          static_cast<unsigned long long>(stats->stream_sizes[1]),
          static_cast<unsigned long long>(stats->stream_sizes[2]),
          static_cast<unsigned long long>(stats->stream_sizes[3]));
    }
    return 0;
  };
}

}  // namespace ferry::publish
