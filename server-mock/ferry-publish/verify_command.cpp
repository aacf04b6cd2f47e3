// ferry-publish verify --repo DIR
//
// Checks the repository as a device would: trust starts from 1.root.json, the real TUF client
// (trust::Updater) walks the root chain and fetches timestamp, snapshot and targets through an
// in-process file fetcher, every target is downloaded and checked against its signed hashes, and
// every blob and delta a manifest pins must exist with its signed size and sha256.
#include <sys/stat.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "ferry/core/clock.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/trust/metadata.hpp"
#include "ferry/trust/metadata_store.hpp"
#include "ferry/trust/updater.hpp"
#include "files.hpp"

namespace ferry::publish {

namespace {

constexpr std::string_view kScheme = "file://";

// Serves file:// URLs from the local disk with HttpClient's contract (404 → kNotFound, a body
// over the limit → kTooLarge).
class FileFetcher final : public fetch::HttpClient {
 public:
  Result<std::string> Get(const std::string& url, std::uint64_t max_bytes) override {
    if (!url.starts_with(kScheme)) {
      return Fail(fetch::FetchErrc::kBadUrl, "not a file:// URL: " + url);
    }
    const std::string path = url.substr(kScheme.size());
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Fail(fetch::FetchErrc::kNotFound, path + " not found");
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
      return Fail(fetch::FetchErrc::kTooLarge,
                  path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    return fs::ReadFile(path, static_cast<std::size_t>(max_bytes));
  }
};

// A fresh device's trust store: nothing but what this run learns.
class MemoryStore final : public trust::MetadataStore {
 public:
  Result<std::optional<std::string>> Load(std::string_view role) override {
    auto it = roles_.find(std::string(role));
    return it == roles_.end() ? std::optional<std::string>() : it->second;
  }
  Status Save(std::string_view role, std::string_view bytes, std::uint64_t,
              std::chrono::system_clock::time_point) override {
    roles_[std::string(role)] = std::string(bytes);
    return Ok();
  }
  Status Remove(std::string_view role) override {
    roles_.erase(std::string(role));
    return Ok();
  }
  Result<std::chrono::system_clock::time_point> TimeFloor() override { return floor_; }
  Status RaiseTimeFloor(std::chrono::system_clock::time_point t) override {
    floor_ = std::max(floor_, t);
    return Ok();
  }

 private:
  std::map<std::string, std::string> roles_;
  std::chrono::system_clock::time_point floor_{};
};

class Verifier {
 public:
  explicit Verifier(std::filesystem::path repo) : repo_(std::move(repo)) {}

  int Run() {
    auto root = fs::ReadFile(repo_ / "metadata" / "1.root.json");
    if (!root) {
      return Report("verify",
                    root.error().WithContext(repo_.string() + " is not a Ferry repository"));
    }
    MemoryStore store;
    if (auto st = trust::TrustRoot(store, *root); !st) {
      Problem("metadata/1.root.json: " + st.error().String());
      return Finish();
    }
    FileFetcher fetcher;
    ManualClock clock(std::chrono::system_clock::now());
    const std::string base = std::string(kScheme) + std::filesystem::absolute(repo_).string();
    trust::Updater updater(
        store, fetcher, clock,
        {.metadata_base_url = base + "/metadata", .targets_base_url = base + "/targets"});
    if (auto st = updater.Refresh(); !st) {
      Problem("metadata: " + st.error().String());
      return Finish();
    }
    CheckRootCopy(*updater.root());
    auto targets_bytes = store.Load("targets");
    auto targets = trust::ParseMetadata(**targets_bytes, "targets");
    if (!targets) {
      Problem("targets: " + targets.error().String());
      return Finish();
    }
    for (const auto& [name, unused] : targets->targets) {
      CheckTarget(updater, name);
    }
    return Finish();
  }

 private:
  void Problem(std::string what) { problems_.push_back(std::move(what)); }

  int Finish() {
    for (const auto& p : problems_) {
      std::fprintf(stderr, "ferry-publish verify: %s\n", p.c_str());
    }
    if (!problems_.empty()) {
      std::fprintf(stderr, "ferry-publish verify: %zu problem(s) in %s\n", problems_.size(),
                   repo_.c_str());
      return kExitFailure;
    }
    std::printf("repository %s is good: %zu target(s), %zu blob(s) checked\n", repo_.c_str(),
                targets_checked_, blobs_.size());
    return 0;
  }

  void CheckRootCopy(const trust::Metadata& trusted) {
    auto copy = fs::ReadFile(repo_ / "metadata" / "root.json");
    auto parsed =
        copy ? trust::ParseMetadata(*copy, "root") : Result<trust::Metadata>(Fail(copy.error()));
    if (!parsed || parsed->version != trusted.version) {
      Problem("metadata/root.json is not a copy of the newest root (" +
              std::to_string(trusted.version) + ".root.json)");
    }
  }

  void CheckTarget(trust::Updater& updater, const std::string& name) {
    ++targets_checked_;
    auto info = updater.GetTargetInfo(name);
    if (!info) {
      Problem("target " + name + ": " + info.error().String());
      return;
    }
    auto bytes = updater.DownloadTarget(*info);
    if (!bytes) {
      Problem(bytes.error().String());
      return;
    }
    const auto slash = name.find('/');
    if (slash == std::string::npos || !name.ends_with(".json")) {
      return;  // not a release manifest
    }
    auto m = manifest::ParseManifest(*bytes);
    if (!m) {
      Problem("target " + name + ": " + m.error().String());
      return;
    }
    if (name != m->app + "/" + m->version.String() + ".json") {
      Problem("target " + name + " holds the manifest of " + m->app + " " + m->version.String());
    }
    for (std::size_t i = 0; i < m->layers.size(); ++i) {
      const auto& layer = m->layers[i];
      const std::string where = name + " layer " + std::to_string(i);
      CheckBlob(layer.blob, where + " blob");
      for (const auto& d : layer.deltas) {
        CheckBlob(d.blob, where + " delta from " + d.from_diff_id);
      }
    }
  }

  void CheckBlob(const manifest::Blob& blob, const std::string& where) {
    auto [it, fresh] = blobs_.try_emplace(blob.digest);
    if (fresh) {
      const auto path = BlobPath(repo_, blob.digest);
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if (ec) {
        it->second = "missing (" + path.string() + ")";
      } else if (size != blob.size) {
        it->second = "size " + std::to_string(size) + ", signed " + std::to_string(blob.size);
      } else if (auto hex = Sha256OfFile(path); !hex) {
        it->second = hex.error().String();
      } else if ("sha256:" + *hex != blob.digest) {
        it->second = "content has sha256:" + *hex;
      }
    }
    if (!it->second.empty()) {
      Problem(where + " " + blob.digest + ": " + it->second);
    }
  }

  std::filesystem::path repo_;
  std::vector<std::string> problems_;
  std::map<std::string, std::string> blobs_;  // digest → problem ("" when good)
  std::size_t targets_checked_ = 0;
};

}  // namespace

CommandRun SetupVerifyCommand(CLI::App& sub) {
  auto repo = std::make_shared<std::string>();
  sub.add_option("--repo", *repo, "Repository directory")->required();
  return [repo]() -> int { return Verifier(*repo).Run(); };
}

}  // namespace ferry::publish
