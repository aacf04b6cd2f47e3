// Offline bundles (`ferry-publish bundle`, `ferry install BUNDLE`): one tar holding a piece of a
// repository — the TUF metadata chain, a release's manifest target and the blobs or deltas it
// needs — plus bundle.json naming the release (docs/repository.md). A bundle goes through the
// same trust checks as an update from a server: nothing in it is used before the metadata chain
// verifies against the device's trusted root, and the manifest against the signed targets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/manifest/manifest.hpp"
#include "ferry/trust/metadata_store.hpp"
#include "ferry/trust/updater.hpp"

namespace ferry {
class UniqueFd;
}  // namespace ferry

namespace ferry::bundle {

// Bundles larger than this are refused before a byte is read.
inline constexpr std::uint64_t kMaxBundleBytes = 16ull << 30;

// A bundle file opened the only way ferryd opens one named by someone else: the last path
// component must not be a symlink (O_NOFOLLOW, so /proc/self/fd/N and links to /etc/shadow are
// refused), the open never blocks (O_NONBLOCK: a FIFO or a device cannot wedge the caller), and
// the opened file must be a regular file of at most `max_bytes` (fstat on the fd, no race).
// Everything after reads from this fd, and never more than `size` bytes.
class BundleFile {
 public:
  // Errc::kInvalidArgument for a symlink, a device, a FIFO, a socket or a directory;
  // kLimitExceeded for a file over `max_bytes`; the errno error (kNotFound, kPermissionDenied…)
  // when it cannot be opened. Never blocks.
  static Result<BundleFile> Open(const std::filesystem::path& path,
                                 std::uint64_t max_bytes = kMaxBundleBytes);
  BundleFile(BundleFile&&) noexcept;
  BundleFile& operator=(BundleFile&&) noexcept;
  ~BundleFile();

  int fd() const;
  std::uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  BundleFile(std::unique_ptr<UniqueFd> fd, std::uint64_t size, std::filesystem::path path);
  std::unique_ptr<UniqueFd> fd_;
  std::uint64_t size_ = 0;
  std::filesystem::path path_;
};

struct VerifiedRelease {
  manifest::Manifest manifest;
  std::string manifest_bytes;  // as signed
  std::filesystem::path dir;   // the unpacked bundle; blobs under blobs/sha256/<hex>
};

struct Release {
  manifest::Manifest manifest;
  std::string manifest_bytes;  // as signed
};

// Verifies the repository's TUF metadata at `config`'s URLs against `store` (seeded from
// `trusted_root_file` when the store trusts nothing yet) and returns the signed release manifest
// `target` ("<app>/<version>.json"). Verified metadata is kept in `store`, so version floors rise.
// `source` names where the metadata came from in errors ("the repository"). The same path serves a
// server, a static web server and an unpacked offline bundle (file://).
Result<Release> FetchRelease(trust::MetadataStore& store, fetch::HttpClient& http,
                             const Clock& clock, const trust::UpdaterConfig& config,
                             const std::filesystem::path& trusted_root_file,
                             const std::string& target, std::string_view source);

// Unpacks `bundle_file` into `work_dir` (an empty directory the caller owns and removes) with the
// hardened layer extractor, then verifies it: TUF metadata against `store` (seeded from
// `trusted_root_file` when the store trusts nothing yet), and the manifest target named in
// bundle.json. Verified metadata is kept in `store`, so version floors rise as with a server.
// Reads the file from its fd, the first `bundle_file.size()` bytes only. When `stop_requested`
// turns true, unpacking stops within a tar entry or 4 MiB with Errc::kCancelled ("ferryd is
// stopping"); what was unpacked stays in `work_dir` for the caller to remove.
Result<VerifiedRelease> OpenBundle(const BundleFile& bundle_file,
                                   const std::filesystem::path& work_dir,
                                   trust::MetadataStore& store,
                                   const std::filesystem::path& trusted_root_file,
                                   const Clock& clock, std::function<bool()> stop_requested = {});

// BundleFile::Open, then the above.
Result<VerifiedRelease> OpenBundle(const std::filesystem::path& bundle_file,
                                   const std::filesystem::path& work_dir,
                                   trust::MetadataStore& store,
                                   const std::filesystem::path& trusted_root_file,
                                   const Clock& clock);

// An HttpClient over local files: "file:///a/b" reads /a/b. Missing files are FetchErrc::kNotFound
// and files over the byte limit FetchErrc::kTooLarge, as over HTTP.
class FileClient final : public fetch::HttpClient {
 public:
  Result<std::string> Get(const std::string& url, std::uint64_t max_bytes) override;
};

}  // namespace ferry::bundle
