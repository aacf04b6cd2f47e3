#include "ferry/engine/engine.hpp"

namespace ferry::engine {

Result<runtime::ContainerSpec> SpecFromManifest(const manifest::Manifest& m,
                                                const std::string& revision,
                                                const std::filesystem::path& rootfs) {
  runtime::ContainerSpec spec;
  spec.app = m.app;
  spec.revision = revision;
  spec.rootfs = rootfs;
  spec.args = m.config.entrypoint;
  spec.args.insert(spec.args.end(), m.config.cmd.begin(), m.config.cmd.end());
  spec.env = m.config.env;
  auto user = runtime::ParseUser(m.config.user);
  if (!user) {
    return Fail(user.error().WithContext("config.user"));
  }
  spec.uid = user->first;
  spec.gid = user->second;
  spec.working_dir = m.config.working_dir;
  if (!m.config.capabilities.empty()) {
    spec.capabilities = m.config.capabilities;
  }
  spec.read_only_root = m.config.read_only_rootfs;
  spec.limits.memory_bytes = m.config.resources.memory_bytes;
  if (m.config.resources.pids) {
    spec.limits.pids = static_cast<std::int64_t>(*m.config.resources.pids);
  }
  if (m.config.resources.cpu_millis) {
    spec.limits.cpus = static_cast<double>(*m.config.resources.cpu_millis) / 1000.0;
  }
  for (const auto& v : m.config.volumes) {
    spec.volumes.push_back({v.name, v.path, v.read_only});
  }
  spec.hostname = m.app;
  spec.labels = m.config.labels;
  spec.labels["io.ferry.app"] = m.app;
  spec.labels["io.ferry.version"] = m.version.String();
  spec.labels["io.ferry.revision"] = revision;
  if (auto st = runtime::ValidateSpec(spec); !st) {
    return Fail(st.error());
  }
  return spec;
}

}  // namespace ferry::engine
