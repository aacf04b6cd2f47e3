#include "ferry/update/offline_installer.hpp"

#include "ferry/core/fs.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/update/admission.hpp"
#include "release_pipeline.hpp"

namespace ferry::update {
namespace {

// A release from a bundle: its blobs are in the unpacked bundle, verified with it.
class BundleSource final : public ReleaseSource {
 public:
  explicit BundleSource(std::filesystem::path dir) : blobs_(std::move(dir)) {}
  bool Downloads() const override { return false; }
  std::uint64_t BytesOnDisk(const DownloadPlan&) override { return 0; }
  Status Bring(const DownloadPlan&) override { return Ok(); }
  engine::BlobProvider& Blobs() override { return blobs_; }

 private:
  engine::DirBlobProvider blobs_;
};

}  // namespace

OfflineInstaller::OfflineInstaller(engine::Engine& engine, store::StateStore& store,
                                   engine::Layout layout, const Clock& clock,
                                   OfflineOptions options)
    : engine_(engine),
      store_(store),
      layout_(std::move(layout)),
      clock_(clock),
      options_(std::move(options)) {}

Result<BundleInstall> OfflineInstaller::Install(const bundle::BundleFile& file,
                                                const engine::InstallOptions& options,
                                                const fetch::CancelToken* cancel) {
  // The same admission as a release from the repository; space first, before unpacking.
  if (auto st = AdmitBundleFile(file.path(), file.size(), layout_, options_.limits); !st) {
    return Fail(st.error());
  }
  const auto work = layout_.incoming_bundle();
  if (auto st = layers::RemoveTree(work); !st) {
    return Fail(st.error());
  }
  if (auto st = fs::MakeDirs(work, 0700); !st) {
    return Fail(st.error());
  }
  std::function<bool()> stop_requested;
  if (cancel != nullptr) {
    stop_requested = [cancel] { return cancel->cancelled(); };
  }
  auto release = bundle::OpenBundle(file, work, store_.Metadata(), options_.trusted_root, clock_,
                                    stop_requested);
  if (!release) {
    (void)layers::RemoveTree(work);
    return Fail(release.error());
  }
  BundleSource source(release->dir);
  engine::InstallOptions engine_options = options;
  engine_options.stop_requested = stop_requested;
  auto r = InstallRelease(Pipeline{engine_, store_, layout_, options_.limits}, release->manifest,
                          release->manifest_bytes, source, engine_options);
  (void)layers::RemoveTree(work);
  if (!r) {
    return Fail(r.error());
  }
  return BundleInstall{release->manifest.app, release->manifest.version.String(), *r};
}

Status OfflineInstaller::SweepInterrupted() { return layers::RemoveTree(layout_.incoming()); }

}  // namespace ferry::update
