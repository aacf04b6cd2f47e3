// ferry-publish release --repo DIR --keys KEYDIR --app NAME --version SEMVER --image SRC
//                       [--app-config FILE] [--keep-deltas K] [--jobs N] [--downgrade]
//                       [--architecture A]
//
// The slow part (importing the image, compressing layers, encoding deltas, storing blobs) runs
// on a snapshot of the metadata and holds no lock; only the metadata step takes the repository
// lock, and it reads the metadata again inside it, so releases of other apps published meanwhile
// stay in targets. The blobs are recorded as pending first, so gc leaves them alone.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "app_config.hpp"
#include "command.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/delta/delta.hpp"
#include "ferry/manifest/manifest.hpp"
#include "files.hpp"
#include "image.hpp"
#include "pause_point.hpp"
#include "pending_blobs.hpp"
#include "repository.hpp"

namespace ferry::publish {

namespace {

using nlohmann::json;

struct ReleaseArgs {
  std::string repo, keys, app, version, image, app_config, architecture, rootfs_owner;
  unsigned keep_deltas = 3;
  unsigned jobs = delta::DefaultEncodeJobs();
  bool downgrade = false;
  bool quiet = false;
};

// The old layer tars the deltas start from, decompressed once each into the work directory and
// kept there: the encoder reads old files from them as it needs them.
class OldLayers {
 public:
  OldLayers(const std::filesystem::path& repo, const std::filesystem::path& work)
      : repo_(repo), work_(work) {}

  Result<const delta::OldLayer*> Get(const manifest::Layer& layer) {
    if (auto it = loaded_.find(layer.diff_id); it != loaded_.end()) {
      return &it->second;
    }
    const auto tar = work_ / ("old-" + layer.diff_id.substr(7) + ".tar");
    FERRY_TRY_STATUS(DecompressZstd(BlobPath(repo_, layer.blob.digest), tar),
                     "old layer " + layer.diff_id);
    auto old = delta::LoadOldLayer(tar);
    if (!old) {
      return Fail(old.error().WithContext("old layer " + layer.diff_id));
    }
    return &loaded_.emplace(layer.diff_id, std::move(*old)).first->second;
  }

 private:
  std::filesystem::path repo_, work_;
  std::map<std::string, delta::OldLayer> loaded_;
};

bool HasLayer(const manifest::Manifest& m, const std::string& diff_id) {
  return std::any_of(m.layers.begin(), m.layers.end(),
                     [&](const manifest::Layer& l) { return l.diff_id == diff_id; });
}

// Whether `version` of the app may join `releases` (the app's releases, sorted by version).
Status CheckVersion(const ReleaseArgs& args, const manifest::SemVer& version,
                    const std::vector<Release>& releases) {
  for (const auto& r : releases) {
    if (r.version == version) {
      return Fail(Errc::kAlreadyExists,
                  args.app + " " + r.version.String() + " is already published (" + r.target + ")");
    }
  }
  if (!releases.empty() && version < releases.back().version && !args.downgrade) {
    return Fail(Errc::kFailedPrecondition, args.app + " " + version.String() +
                                               " is lower than the newest release " +
                                               releases.back().version.String() +
                                               "; pass --downgrade to publish a signed revert");
  }
  return Ok();
}

int Run(const ReleaseArgs& args) {
  if (!manifest::IsValidName(args.app)) {
    return Report("release",
                  MakeError(Errc::kInvalidArgument,
                            "app name '" + args.app +
                                "' is not valid ([a-z0-9][a-z0-9_.-]*, at most 63 characters)"),
                  kExitUsage);
  }
  auto version = manifest::ParseSemVer(args.version);
  if (!version) {
    return Report("release", version.error().WithContext("--version " + args.version), kExitUsage);
  }
  auto snapshot = Repository::Open(args.repo, args.keys, Repository::Access::kRead);
  if (!snapshot) {
    return Report("release", snapshot.error());
  }
  const std::vector<Release> releases = snapshot->Releases(args.app);
  if (auto st = CheckVersion(args, *version, releases); !st) {
    return Report("release", st.error());
  }
  AppConfig app_config;
  if (!args.app_config.empty()) {
    auto loaded = LoadAppConfig(args.app_config);
    if (!loaded) {
      return Report("release", loaded.error());
    }
    app_config = std::move(*loaded);
  }
  WorkDir work;
  if (!work.ok()) {
    return Report("release", ErrnoError("creating a work directory"));
  }
  std::optional<Owner> owner;
  if (!args.rootfs_owner.empty()) {
    unsigned uid = 0, gid = 0;
    char extra = 0;
    if (std::sscanf(args.rootfs_owner.c_str(), "%u:%u%c", &uid, &gid, &extra) != 2) {
      return Report("release",
                    MakeError(Errc::kInvalidArgument,
                              "--rootfs-owner '" + args.rootfs_owner + "' is not UID:GID"),
                    kExitUsage);
    }
    owner = Owner{uid, gid};
  }
  auto image = ImportImage(args.image, work.path(), owner);
  if (!image) {
    return Report("release", image.error());
  }
  if (image->layers.empty()) {
    return Report("release",
                  MakeError(Errc::kInvalidArgument, "image " + args.image + " has no layers"));
  }
  auto config = BuildRuntimeConfig(image->config, app_config);
  if (!config) {
    return Report("release", config.error());
  }

  json doc{{"schema", manifest::kSchemaVersion},
           {"app", args.app},
           {"version", version->String()},
           {"downgrade", args.downgrade},
           {"config", *config}};
  std::string arch = !args.architecture.empty() ? args.architecture : image->architecture;
  if (!arch.empty()) {
    doc["architecture"] = arch;
  }
  if (app_config.min_from_version) {
    doc["min_from_version"] = *app_config.min_from_version;
  }
  // Checked before any blob is stored: the manifest parser is ferryd's, and what it refuses no
  // device could install.
  {
    json probe = doc;
    const std::string& id = image->layers.front().diff_id;
    probe["layers"] = json::array(
        {json{{"diff_id", id}, {"size", 0}, {"blob", json{{"digest", id}, {"size", 0}}}}});
    if (auto checked = manifest::ParseManifest(probe.dump()); !checked) {
      return Report("release", checked.error().WithContext("manifest"));
    }
  }

  // Older releases to make deltas from: the newest K of the app.
  std::vector<manifest::Manifest> bases;
  for (auto it = releases.rbegin(); it != releases.rend() && bases.size() < args.keep_deltas;
       ++it) {
    auto bytes = fs::ReadFile(it->file);
    auto parsed =
        bytes ? manifest::ParseManifest(*bytes) : Result<manifest::Manifest>(Fail(bytes.error()));
    if (!parsed) {
      return Report("release", parsed.error().WithContext("release " + it->target));
    }
    bases.push_back(std::move(*parsed));
  }

  PendingBlobs pending(args.repo);
  OldLayers old_layers(args.repo, work.path());
  json layers = json::array();
  std::size_t delta_count = 0;
  for (std::size_t i = 0; i < image->layers.size(); ++i) {
    const ImportedLayer& layer = image->layers[i];
    auto figures = CountLayerTar(layer.tar);
    if (!figures) {
      return Report("release", figures.error().WithContext("layer " + std::to_string(i)));
    }
    const auto compressed = work.path() / ("layer-" + std::to_string(i) + ".tar.zst");
    if (auto st = CompressZstd(layer.tar, compressed); !st) {
      return Report("release", st.error().WithContext("layer " + std::to_string(i)));
    }
    auto blob = StoreBlob(args.repo, compressed, pending);
    if (!blob) {
      return Report("release", blob.error());
    }
    json deltas = json::array();
    std::vector<std::string> froms;
    for (const auto& base : bases) {
      // A device on `base` already has this layer when the base holds it; otherwise the layer at
      // the same position is the likeliest ancestor.
      if (HasLayer(base, layer.diff_id) || i >= base.layers.size()) {
        continue;
      }
      const manifest::Layer& from = base.layers[i];
      if (std::find(froms.begin(), froms.end(), from.diff_id) != froms.end()) {
        continue;
      }
      auto old = old_layers.Get(from);
      if (!old) {
        return Report("release", old.error());
      }
      PausePoint(kPauseBeforeDelta);
      const auto delta_file = work.path() / "delta";
      delta::EncodeOptions options;
      options.jobs = args.jobs;
      auto stats = delta::EncodeDelta(**old, layer.tar, delta_file, options);
      if (!stats) {
        return Report("release", stats.error().WithContext("delta from " + from.diff_id));
      }
      if (stats->delta_size >= blob->size) {
        continue;  // a device does better downloading the full blob
      }
      auto delta_blob = StoreBlob(args.repo, delta_file, pending);
      if (!delta_blob) {
        return Report("release", delta_blob.error());
      }
      froms.push_back(from.diff_id);
      deltas.push_back(json{{"from", from.diff_id},
                            {"digest", delta_blob->digest},
                            {"size", delta_blob->size},
                            {"media_type", manifest::kDeltaMediaType}});
      ++delta_count;
    }
    layers.push_back(json{{"diff_id", layer.diff_id},
                          {"size", layer.size},
                          {"entries", figures->entries},
                          {"unpacked_size", figures->unpacked_size},
                          {"blob", json{{"digest", blob->digest},
                                        {"size", blob->size},
                                        {"media_type", manifest::kLayerMediaType}}},
                          {"deltas", deltas}});
  }

  doc["layers"] = layers;
  auto parsed = manifest::ParseManifest(doc.dump());
  if (!parsed) {
    return Report("release", parsed.error().WithContext("manifest"));
  }
  const std::string bytes = manifest::SerializeManifest(*parsed);
  const std::string target = ManifestTargetName(args.app, parsed->version);
  PausePoint(kPauseBeforeMetadata);
  auto repo = Repository::Open(args.repo, args.keys, Repository::Access::kWrite);
  if (!repo) {
    return Report("release", repo.error());
  }
  // Another release of the app may have been published since the snapshot.
  if (auto st = CheckVersion(args, parsed->version, repo->Releases(args.app)); !st) {
    return Report("release", st.error());
  }
  trust::Json::Object custom;
  custom.emplace_back("app", trust::Json(args.app));
  custom.emplace_back("version", trust::Json(parsed->version.String()));
  if (auto st = repo->AddTarget(target, bytes, trust::Json(std::move(custom))); !st) {
    return Report("release", st.error());
  }
  if (auto st = repo->Commit(true); !st) {
    return Report("release", st.error());
  }
  if (!args.quiet) {
    std::printf("released %s: %zu layer(s), %zu delta(s)\n", target.c_str(), image->layers.size(),
                delta_count);
  }
  return 0;
}

}  // namespace

CommandRun SetupReleaseCommand(CLI::App& sub) {
  auto args = std::make_shared<ReleaseArgs>();
  sub.add_option("--repo", args->repo, "Repository directory")->required();
  sub.add_option("--keys", args->keys, "Key directory")->required();
  sub.add_option("--app", args->app, "App name")->required();
  sub.add_option("--version", args->version, "Release version (semver)")->required();
  sub.add_option("--image", args->image,
                 "Root filesystem directory, OCI layout (DIR or DIR:TAG) or docker save tarball")
      ->required();
  sub.add_option("--app-config", args->app_config, "App config file (JSON)");
  sub.add_option("--keep-deltas", args->keep_deltas,
                 "Make deltas from the layers of this many newest releases")
      ->check(CLI::Range(0, 32))
      ->capture_default_str();
  sub.add_option("--jobs", args->jobs,
                 "Files encoded in parallel per delta (the deltas are the same for any number)")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  sub.add_option("--rootfs-owner", args->rootfs_owner,
                 "UID:GID for every file of a root filesystem directory (default: their own)");
  sub.add_option("--architecture", args->architecture, "Architecture (default: the image's)");
  sub.add_flag("--downgrade", args->downgrade,
               "Allow a version below the newest (signed permission to revert)");
  sub.add_flag("-q,--quiet", args->quiet, "Print nothing on success");
  return [args]() -> int { return Run(*args); };
}

}  // namespace ferry::publish
