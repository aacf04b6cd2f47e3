// ferry-publish gc --repo DIR [--dry-run]
//
// Removes the blobs and deltas of DIR/blobs/sha256/ that no manifest listed in the current
// targets references, and leftovers of interrupted writes. Nothing is removed when any manifest
// cannot be read: a blob is deleted only when it is known to be unused. Blobs that a running
// release has recorded as pending (pending_blobs.hpp), and their temp files, are kept; gc holds
// the repository lock exclusively, so no release records a blob or writes metadata meanwhile.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "command.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/manifest/manifest.hpp"
#include "pending_blobs.hpp"
#include "repository.hpp"

namespace ferry::publish {

namespace {

struct GcArgs {
  std::string repo;
  bool dry_run = false;
};

int Run(const GcArgs& args) {
  auto repo = Repository::Open(args.repo, "", Repository::Access::kWrite);
  if (!repo) {
    return Report("gc", repo.error());
  }
  std::set<std::string> used;
  for (const auto& r : repo->Releases("")) {
    auto bytes = fs::ReadFile(r.file);
    if (!bytes) {
      return Report("gc", bytes.error().WithContext("release " + r.target + "; nothing removed"));
    }
    auto m = manifest::ParseManifest(*bytes);
    if (!m) {
      return Report("gc", m.error().WithContext("release " + r.target + "; nothing removed"));
    }
    for (const auto& layer : m->layers) {
      used.insert(layer.blob.digest.substr(7));
      for (const auto& d : layer.deltas) {
        used.insert(d.blob.digest.substr(7));
      }
    }
  }
  auto pending = BlobsOfReleasesInProgress(args.repo, args.dry_run);
  if (!pending) {
    return Report("gc", pending.error().WithContext("nothing removed"));
  }
  const auto dir = std::filesystem::path(args.repo) / "blobs" / "sha256";
  std::error_code ec;
  std::vector<std::filesystem::path> unused;
  std::size_t kept = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    // A blob's temp file is named "<hex>.partial.<pid>": it belongs to the blob <hex>.
    const std::string hex = name.substr(0, 64);
    if (used.contains(name)) {
      continue;
    }
    if (pending->contains(hex)) {
      ++kept;
      continue;
    }
    unused.push_back(entry.path());
  }
  if (ec) {
    return Report("gc", SystemError("listing " + dir.string(), ec));
  }
  std::uint64_t bytes = 0;
  for (const auto& path : unused) {
    const auto size = std::filesystem::file_size(path, ec);
    bytes += ec ? 0 : size;
    if (!args.dry_run && !std::filesystem::remove(path, ec)) {
      return Report("gc", SystemError("removing " + path.string(), ec));
    }
  }
  if (!args.dry_run && !unused.empty()) {
    if (auto st = fs::SyncPath(dir); !st) {
      return Report("gc", st.error());
    }
  }
  std::printf("%s %zu unused blob(s), %llu bytes\n", args.dry_run ? "would remove" : "removed",
              unused.size(), static_cast<unsigned long long>(bytes));
  if (kept > 0) {
    std::printf("kept %zu file(s) of releases in progress\n", kept);
  }
  return 0;
}

}  // namespace

CommandRun SetupGcCommand(CLI::App& sub) {
  auto args = std::make_shared<GcArgs>();
  sub.add_option("--repo", args->repo, "Repository directory")->required();
  sub.add_flag("--dry-run", args->dry_run, "Only print what would be removed");
  return [args]() -> int { return Run(*args); };
}

}  // namespace ferry::publish
