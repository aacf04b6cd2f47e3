// ferry-publish bundle --repo DIR --app NAME --version V [--base-version V0] --out FILE
//
// An offline bundle is one tar holding a sub-repository: the metadata chain, the release's
// manifest target and the blobs (or deltas from V0) a device needs, at the same paths as in the
// repository, plus bundle.json naming the release. Format in docs/repository.md.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "command.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/trust/metadata.hpp"
#include "files.hpp"
#include "repository.hpp"

namespace ferry::publish {

namespace {

namespace stdfs = std::filesystem;

struct BundleArgs {
  std::string repo, app, version, base_version, out;
};

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

// Writes the members in the given order, with fixed owner, mode and time, so a bundle of the
// same release is always the same bytes. A member in `loaded` is written from those bytes, not
// from the file: timestamp.json is replaced by every release, and the bundle must hold the one
// that names the snapshot it holds.
Status WriteBundle(const stdfs::path& out, const std::string& bundle_json, const stdfs::path& repo,
                   const std::vector<std::string>& members,
                   const std::map<std::string, std::string>& loaded) {
  const std::string tmp = out.string() + ".partial";
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK) {
    return Fail(Errc::kIo, tmp + ": " + ArchiveError(a.get()));
  }
  auto add = [&](const std::string& name, std::uint64_t size) -> Status {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      return Fail(Errc::kIo, name + ": " + ArchiveError(a.get()));
    }
    return Ok();
  };
  FERRY_TRY_STATUS(add("bundle.json", bundle_json.size()), "writing the bundle");
  if (archive_write_data(a.get(), bundle_json.data(), bundle_json.size()) < 0) {
    return Fail(Errc::kIo, "bundle.json: " + ArchiveError(a.get()));
  }
  std::vector<char> buf(1 << 20);
  for (const auto& name : members) {
    if (auto it = loaded.find(name); it != loaded.end()) {
      FERRY_TRY_STATUS(add(name, it->second.size()), "writing the bundle");
      if (archive_write_data(a.get(), it->second.data(), it->second.size()) < 0) {
        return Fail(Errc::kIo, name + ": " + ArchiveError(a.get()));
      }
      continue;
    }
    const stdfs::path path = repo / name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Fail(ErrnoError("open " + path.string()));
    }
    std::error_code ec;
    const auto size = stdfs::file_size(path, ec);
    Status st = add(name, size);
    std::uint64_t copied = 0;
    while (st) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0) {
        st = Fail(ErrnoError("read " + path.string()));
      } else if (n == 0) {
        break;
      } else if (archive_write_data(a.get(), buf.data(), static_cast<std::size_t>(n)) != n) {
        st = Fail(Errc::kIo, name + ": " + ArchiveError(a.get()));
      } else {
        copied += static_cast<std::uint64_t>(n);
      }
    }
    ::close(fd);
    if (st && copied != size) {
      st = Fail(Errc::kIo, path.string() + " changed while being bundled");
    }
    if (!st) {
      return st;
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Fail(Errc::kIo, tmp + ": " + ArchiveError(a.get()));
  }
  FERRY_TRY_STATUS(fs::SyncPath(tmp), "writing the bundle");
  return fs::RenameDurable(tmp, out);
}

Result<manifest::Manifest> LoadRelease(const Repository& repo, const std::string& app,
                                       const std::string& version_text, Release* release) {
  auto version = manifest::ParseSemVer(version_text);
  if (!version) {
    return Fail(version.error().WithContext("version " + version_text));
  }
  for (const auto& r : repo.Releases(app)) {
    if (r.version == *version) {
      auto bytes = fs::ReadFile(r.file);
      if (!bytes) {
        return Fail(bytes.error());
      }
      *release = r;
      return manifest::ParseManifest(*bytes);
    }
  }
  return Fail(Errc::kNotFound, app + " " + version_text + " is not in the repository");
}

// Warns about each role file among `members` whose signed expiry has passed: a device refuses
// an expired timestamp, snapshot, targets or newest root, so such a bundle cannot be installed.
void WarnExpired(const std::string& repo, const std::vector<std::string>& members,
                 const std::map<std::string, std::string>& loaded, const std::string& newest_root) {
  const auto now = std::chrono::system_clock::now();
  for (const auto& member : members) {
    const bool root = member.ends_with(".root.json");
    if (!member.starts_with("metadata/") || (root && member != newest_root)) {
      continue;
    }
    const auto it = loaded.find(member);
    auto text = it != loaded.end() ? Result<std::string>(it->second)
                                   : fs::ReadFile(stdfs::path(repo) / member);
    if (!text) {
      continue;  // WriteBundle reports it
    }
    const auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (!doc.is_object() || !doc.contains("signed") || !doc["signed"].is_object() ||
        !doc["signed"].contains("expires") || !doc["signed"]["expires"].is_string()) {
      continue;
    }
    const std::string expires = doc["signed"]["expires"].get<std::string>();
    auto when = trust::ParseExpires(expires);
    if (when && *when <= now) {
      const char* fix = root                                 ? "ferry-publish rotate --role root"
                        : member.ends_with("timestamp.json") ? "ferry-publish timestamp"
                                                             : "ferry-publish timestamp --all";
      std::fprintf(stderr,
                   "warning: %s expired at %s: devices will refuse this bundle; re-sign with "
                   "%s and bundle again\n",
                   member.c_str(), expires.c_str(), fix);
    }
  }
}

std::string BlobMember(const std::string& digest) {
  return "blobs/sha256/" + digest.substr(digest.find(':') + 1);
}

int Run(const BundleArgs& args) {
  auto repo = Repository::Open(args.repo, "", Repository::Access::kRead);
  if (!repo) {
    return Report("bundle", repo.error());
  }
  Release release;
  auto m = LoadRelease(*repo, args.app, args.version, &release);
  if (!m) {
    return Report("bundle", m.error());
  }
  std::vector<std::string> members;
  for (std::uint64_t v = 1; v <= repo->root_version(); ++v) {
    members.push_back("metadata/" + std::to_string(v) + ".root.json");
  }
  members.push_back("metadata/timestamp.json");
  members.push_back("metadata/" + std::to_string(repo->snapshot_version()) + ".snapshot.json");
  members.push_back("metadata/" + std::to_string(repo->targets_version()) + ".targets.json");
  members.push_back(stdfs::relative(release.file, args.repo).string());

  std::set<std::string> base_layers;
  if (!args.base_version.empty()) {
    Release base_release;
    auto base = LoadRelease(*repo, args.app, args.base_version, &base_release);
    if (!base) {
      return Report("bundle", base.error().WithContext("--base-version"));
    }
    for (const auto& l : base->layers) {
      base_layers.insert(l.diff_id);
    }
  }
  std::set<std::string> blobs;
  nlohmann::json layer_plan = nlohmann::json::array();
  for (const auto& layer : m->layers) {
    if (base_layers.contains(layer.diff_id)) {
      layer_plan.push_back({{"diff_id", layer.diff_id}, {"source", "base"}});
      continue;
    }
    const manifest::Delta* delta = nullptr;
    for (const auto& d : layer.deltas) {
      if (base_layers.contains(d.from_diff_id) &&
          (delta == nullptr || d.blob.size < delta->blob.size)) {
        delta = &d;
      }
    }
    const manifest::Blob& blob = delta != nullptr ? delta->blob : layer.blob;
    layer_plan.push_back({{"diff_id", layer.diff_id},
                          {"source", delta != nullptr ? "delta" : "blob"},
                          {"digest", blob.digest}});
    if (blobs.insert(blob.digest).second) {
      members.push_back(BlobMember(blob.digest));
    }
  }
  nlohmann::json info{{"format", 1},
                      {"app", m->app},
                      {"version", m->version.String()},
                      {"target", release.target},
                      {"layers", layer_plan}};
  if (!args.base_version.empty()) {
    info["base_version"] = args.base_version;
  }
  const std::map<std::string, std::string> loaded{
      {"metadata/timestamp.json", repo->timestamp_bytes()}};
  WarnExpired(args.repo, members, loaded,
              "metadata/" + std::to_string(repo->root_version()) + ".root.json");
  if (auto st = WriteBundle(args.out, info.dump(2) + "\n", args.repo, members, loaded); !st) {
    return Report("bundle", st.error());
  }
  std::printf("bundle %s: %s, %zu blob(s)\n", args.out.c_str(), release.target.c_str(),
              blobs.size());
  return 0;
}

}  // namespace

CommandRun SetupBundleCommand(CLI::App& sub) {
  auto args = std::make_shared<BundleArgs>();
  sub.add_option("--repo", args->repo, "Repository directory")->required();
  sub.add_option("--app", args->app, "App name")->required();
  sub.add_option("--version", args->version, "Release to bundle")->required();
  sub.add_option("--base-version", args->base_version,
                 "Version the device runs: only what it lacks is bundled");
  sub.add_option("--out", args->out, "Bundle file to write")->required();
  return [args]() -> int { return Run(*args); };
}

}  // namespace ferry::publish
