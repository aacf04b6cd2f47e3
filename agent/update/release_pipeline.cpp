#include "release_pipeline.hpp"

#include "ferry/update/admission.hpp"

namespace ferry::update {

Result<engine::InstallResult> InstallRelease(const Pipeline& pipeline,
                                             const manifest::Manifest& manifest,
                                             std::string_view manifest_bytes, ReleaseSource& source,
                                             const engine::InstallOptions& options) {
  const DownloadPlan plan = PlanDownloads(manifest, PresentLayers(pipeline.store, pipeline.layout));
  if (auto st = Admit(pipeline.engine, pipeline.layout, manifest, manifest_bytes, plan,
                      source.Downloads(), source.BytesOnDisk(plan), pipeline.limits,
                      !options.retry_bad_by.empty());
      !st) {
    return Fail(st.error());
  }
  if (auto st = source.Bring(plan); !st) {
    return Fail(st.error());
  }
  return pipeline.engine.Install(manifest, manifest_bytes, source.Blobs(), options);
}

}  // namespace ferry::update
