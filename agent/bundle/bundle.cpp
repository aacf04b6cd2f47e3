#include "ferry/bundle/bundle.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "ferry/core/fs.hpp"
#include "ferry/core/json_depth.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/byte_source.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/trust/updater.hpp"

namespace ferry::bundle {
namespace {

constexpr std::string_view kFileScheme = "file://";

std::string_view KindOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "a directory";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Reads `fd` from its start, `size` bytes and no more: a file that grows while it is read (or
// lies about its size) cannot feed the extractor without end.
class BoundedFdSource final : public layers::ByteSource {
 public:
  BoundedFdSource(int fd, std::uint64_t size) : fd_(fd), left_(size), buffer_(256 * 1024) {}
  Result<std::span<const std::byte>> Next() override {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), left_));
    for (;;) {
      const ssize_t n = ::pread(fd_, buffer_.data(), want, offset_);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return Fail(ErrnoError("read bundle"));
      }
      offset_ += n;
      left_ -= static_cast<std::uint64_t>(n);
      return std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::uint64_t left_;
  off_t offset_ = 0;
  std::vector<std::byte> buffer_;
};

}  // namespace

Result<BundleFile> BundleFile::Open(const std::filesystem::path& path, std::uint64_t max_bytes) {
  if (!path.is_absolute()) {
    return Fail(Errc::kInvalidArgument, "the bundle path must be absolute: " + path.string());
  }
  const int raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ELOOP) {
      return Fail(Errc::kInvalidArgument,
                  "bundle " + path.string() + " is a symlink: name the file itself");
    }
    return Fail(ErrnoError("open bundle " + path.string()));
  }
  auto fd = std::make_unique<UniqueFd>(raw);
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return Fail(ErrnoError("fstat bundle " + path.string()));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(Errc::kInvalidArgument, "bundle " + path.string() + " is " +
                                            std::string(KindOf(st.st_mode)) +
                                            ", not a regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes) {
    return Fail(Errc::kLimitExceeded, "bundle " + path.string() + " has " + std::to_string(size) +
                                          " bytes, more than the " + std::to_string(max_bytes) +
                                          " a bundle may have");
  }
  return BundleFile(std::move(fd), size, path);
}

BundleFile::BundleFile(std::unique_ptr<UniqueFd> fd, std::uint64_t size, std::filesystem::path path)
    : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
BundleFile::BundleFile(BundleFile&&) noexcept = default;
BundleFile& BundleFile::operator=(BundleFile&&) noexcept = default;
BundleFile::~BundleFile() = default;
int BundleFile::fd() const { return fd_ ? fd_->get() : -1; }

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
  auto file = BundleFile::Open(bundle_file);
  if (!file) {
    return Fail(file.error());
  }
  return OpenBundle(*file, work_dir, store, trusted_root_file, clock);
}

Result<VerifiedRelease> OpenBundle(const BundleFile& file, const std::filesystem::path& work_dir,
                                   trust::MetadataStore& store,
                                   const std::filesystem::path& trusted_root_file,
                                   const Clock& clock, std::function<bool()> stop_requested) {
  const std::filesystem::path& bundle_file = file.path();
  // A bundle is input from a USB stick: unpack it with the same checks as a hostile layer.
  BoundedFdSource source(file.fd(), file.size());
  layers::ExtractPolicy policy = layers::ExtractPolicy::ForCurrentProcess();
  policy.ownership = layers::Ownership::kCaller;
  policy.whiteouts = layers::WhiteoutMode::kList;
  policy.xattr_prefixes.clear();
  policy.max_entries = 100'000;
  policy.stop_requested = std::move(stop_requested);
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
  auto parsed = ParseBoundedJson(*info_bytes, JsonBounds{64 * 1024, 8});
  const nlohmann::json info = parsed ? std::move(*parsed) : nlohmann::json();
  if (!info.is_object() || !info.contains("target") || !info["target"].is_string()) {
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
