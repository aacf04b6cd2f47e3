#include "ferry/bundle/bundle.hpp"

#include <nlohmann/json.hpp>

#include "ferry/core/fs.hpp"
#include "ferry/layers/byte_source.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/trust/updater.hpp"

namespace ferry::bundle {
namespace {

constexpr std::string_view kFileScheme = "file://";

}  // namespace

Result<std::string> FileClient::Get(const std::string& url, std::uint64_t max_bytes) {
  if (url.rfind(kFileScheme, 0) != 0) {
    return Fail(fetch::FetchErrc::kBadUrl, "not a file:// URL: " + url);
  }
  const std::filesystem::path path(url.substr(kFileScheme.size()));
  auto bytes = fs::ReadFile(path, static_cast<std::size_t>(max_bytes));
  if (bytes) {
    return bytes;
  }
  if (bytes.error().Is(Errc::kNotFound)) {
    return Fail(fetch::FetchErrc::kNotFound, path.string() + " is not in the bundle");
  }
  if (bytes.error().Is(Errc::kLimitExceeded)) {
    return Fail(fetch::FetchErrc::kTooLarge, bytes.error().message());
  }
  return Fail(bytes.error());
}

Result<VerifiedRelease> OpenBundle(const std::filesystem::path& bundle_file,
                                   const std::filesystem::path& work_dir,
                                   trust::MetadataStore& store,
                                   const std::filesystem::path& trusted_root_file,
                                   const Clock& clock) {
  // A bundle is input from a USB stick: unpack it with the same checks as a hostile layer.
  layers::FileSource source(bundle_file);
  layers::ExtractPolicy policy = layers::ExtractPolicy::ForCurrentProcess();
  policy.ownership = layers::Ownership::kCaller;
  policy.whiteouts = layers::WhiteoutMode::kList;
  policy.xattr_prefixes.clear();
  policy.max_entries = 100'000;
  auto unpacked = layers::ExtractLayer(source, work_dir, policy);
  if (!unpacked) {
    return Fail(unpacked.error().WithContext("bundle " + bundle_file.string()));
  }
  if (!unpacked->whiteouts.empty()) {
    return Fail(Errc::kInvalidArgument, "bundle " + bundle_file.string() + " holds whiteouts");
  }
  auto info_bytes = fs::ReadFile(work_dir / "bundle.json", 64 * 1024);
  if (!info_bytes) {
    return Fail(info_bytes.error().WithContext("bundle " + bundle_file.string() +
                                               " has no readable bundle.json"));
  }
  const nlohmann::json info = nlohmann::json::parse(*info_bytes, nullptr, false);
  if (info.is_discarded() || !info.is_object() || !info.contains("target") ||
      !info["target"].is_string()) {
    return Fail(Errc::kInvalidArgument,
                "bundle " + bundle_file.string() + ": bundle.json does not name a target");
  }
  const std::string target = info["target"];

  trust::UpdaterConfig config;
  config.metadata_base_url = std::string(kFileScheme) + (work_dir / "metadata").string();
  config.targets_base_url = std::string(kFileScheme) + (work_dir / "targets").string();
  FileClient files;
  auto release = FetchRelease(store, files, clock, config, trusted_root_file, target, "the bundle");
  if (!release) {
    return Fail(release.error());
  }
  return VerifiedRelease{std::move(release->manifest), std::move(release->manifest_bytes),
                         work_dir};
}

Result<Release> FetchRelease(trust::MetadataStore& store, fetch::HttpClient& http,
                             const Clock& clock, const trust::UpdaterConfig& config,
                             const std::filesystem::path& trusted_root_file,
                             const std::string& target, std::string_view source) {
  auto trusted = store.Load("root");
  if (!trusted) {
    return Fail(trusted.error());
  }
  if (!*trusted) {
    auto root = fs::ReadFile(trusted_root_file, 1u << 20);
    if (!root) {
      return Fail(root.error().WithContext("the device trusts no root yet, and its pinned root"));
    }
    if (auto st = trust::TrustRoot(store, *root); !st) {
      return Fail(st.error().WithContext("pinned root " + trusted_root_file.string()));
    }
  }
  trust::Updater updater(store, http, clock, config);
  if (auto st = updater.Refresh(); !st) {
    return Fail(st.error().WithContext("verifying " + std::string(source) + "'s metadata"));
  }
  auto info_target = updater.GetTargetInfo(target);
  if (!info_target) {
    return Fail(info_target.error().WithContext("release " + target));
  }
  auto bytes = updater.DownloadTarget(*info_target);
  if (!bytes) {
    return Fail(bytes.error().WithContext("release " + target));
  }
  auto m = manifest::ParseManifest(*bytes);
  if (!m) {
    return Fail(m.error().WithContext("release " + target));
  }
  return Release{std::move(*m), std::move(*bytes)};
}

}  // namespace ferry::bundle
