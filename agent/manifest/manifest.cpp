#include "ferry/manifest/manifest.hpp"

#include <algorithm>
#include <set>

#include "ferry/core/digest.hpp"

namespace ferry::manifest {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxLayers = 128;
constexpr std::size_t kMaxDeltas = 16;
constexpr std::size_t kMaxListItems = 1024;
constexpr std::size_t kMaxStringBytes = 4096;
constexpr std::size_t kMaxManifestBytes = 1u << 20;
// JSON integers are exact up to 2^53; larger sizes cannot be signed and checked reliably.
constexpr std::uint64_t kMaxSize = (1ull << 53) - 1;

// Walks a JSON document with the path of the current node, for error messages.
class Reader {
 public:
  Reader(const Json& node, std::string path) : node_(node), path_(std::move(path)) {}

  Status Expect(Json::value_t type, std::string_view what) const {
    if (node_.type() != type) {
      return Fail(Errc::kInvalidArgument, Where() + "must be " + std::string(what));
    }
    return Ok();
  }

  // Fails on keys outside `allowed`.
  Status OnlyKeys(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [key, value] : node_.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Fail(Errc::kInvalidArgument, Where() + "unknown field '" + key + "'");
      }
    }
    return Ok();
  }

  bool Has(const char* key) const { return node_.contains(key) && !node_[key].is_null(); }
  Reader Child(const char* key) const { return Reader(node_[key], Join(key)); }
  Reader Item(std::size_t i) const {
    return Reader(node_[i], path_ + "[" + std::to_string(i) + "]");
  }
  const Json& node() const { return node_; }

  Result<std::string> String(const char* key, bool required = true) const {
    if (!Has(key)) {
      if (required) {
        return Fail(Errc::kInvalidArgument, "missing field " + Join(key));
      }
      return std::string();
    }
    const Json& v = node_[key];
    if (!v.is_string()) {
      return Fail(Errc::kInvalidArgument, Join(key) + ": must be a string");
    }
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > kMaxStringBytes || s.find('\0') != std::string::npos) {
      return Fail(Errc::kInvalidArgument, Join(key) + ": too long or contains a NUL byte");
    }
    return s;
  }

  Result<std::uint64_t> Unsigned(const char* key, std::uint64_t max = kMaxSize) const {
    if (!Has(key)) {
      return Fail(Errc::kInvalidArgument, "missing field " + Join(key));
    }
    const Json& v = node_[key];
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
      return Fail(Errc::kInvalidArgument, Join(key) + ": must be a non-negative integer");
    }
    const auto n = v.get<std::uint64_t>();
    if (n > max) {
      return Fail(Errc::kInvalidArgument,
                  Join(key) + ": " + std::to_string(n) + " is larger than " + std::to_string(max));
    }
    return n;
  }

  Result<bool> Bool(const char* key, bool fallback) const {
    if (!Has(key)) {
      return fallback;
    }
    if (!node_[key].is_boolean()) {
      return Fail(Errc::kInvalidArgument, Join(key) + ": must be true or false");
    }
    return node_[key].get<bool>();
  }

  Result<std::vector<std::string>> Strings(const char* key) const {
    std::vector<std::string> out;
    if (!Has(key)) {
      return out;
    }
    Reader list = Child(key);
    if (auto st = list.ExpectList(kMaxListItems); !st) {
      return Fail(st.error());
    }
    for (std::size_t i = 0; i < list.node().size(); ++i) {
      const Json& v = list.node()[i];
      if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxStringBytes ||
          v.get_ref<const std::string&>().find('\0') != std::string::npos) {
        return Fail(Errc::kInvalidArgument,
                    list.path_ + "[" + std::to_string(i) + "]: must be a string without NUL");
      }
      out.push_back(v.get<std::string>());
    }
    return out;
  }

  Status ExpectList(std::size_t max_items) const {
    if (!node_.is_array()) {
      return Fail(Errc::kInvalidArgument, Where() + "must be a list");
    }
    if (node_.size() > max_items) {
      return Fail(Errc::kInvalidArgument, Where() + "has " + std::to_string(node_.size()) +
                                              " items, more than " + std::to_string(max_items));
    }
    return Ok();
  }

  std::string Join(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  std::string Where() const { return path_.empty() ? "manifest: " : path_ + ": "; }

 private:
  const Json& node_;
  std::string path_;
};

#define FERRY_ASSIGN(lhs, expr)      \
  do {                               \
    auto ferry_r_ = (expr);          \
    if (!ferry_r_) {                 \
      return Fail(ferry_r_.error()); \
    }                                \
    lhs = std::move(*ferry_r_);      \
  } while (false)

Result<Blob> ParseBlob(const Reader& r) {
  if (auto st = r.Expect(Json::value_t::object, "an object"); !st) {
    return Fail(st.error());
  }
  if (auto st = r.OnlyKeys({"digest", "size", "media_type"}); !st) {
    return Fail(st.error());
  }
  Blob b;
  FERRY_ASSIGN(b.digest, r.String("digest"));
  if (!IsSha256Digest(b.digest)) {
    return Fail(Errc::kInvalidArgument, r.Join("digest") + ": not a sha256 digest");
  }
  FERRY_ASSIGN(b.size, r.Unsigned("size"));
  return b;
}

Result<Layer> ParseLayer(const Reader& r) {
  if (auto st = r.Expect(Json::value_t::object, "an object"); !st) {
    return Fail(st.error());
  }
  if (auto st = r.OnlyKeys({"diff_id", "size", "entries", "unpacked_size", "blob", "deltas"});
      !st) {
    return Fail(st.error());
  }
  Layer layer;
  FERRY_ASSIGN(layer.diff_id, r.String("diff_id"));
  if (!IsSha256Digest(layer.diff_id)) {
    return Fail(Errc::kInvalidArgument, r.Join("diff_id") + ": not a sha256 digest");
  }
  FERRY_ASSIGN(layer.size, r.Unsigned("size"));
  // Optional: manifests of older ferry-publish versions lack them.
  if (r.Has("entries")) {
    FERRY_ASSIGN(layer.entries, r.Unsigned("entries"));
  }
  if (r.Has("unpacked_size")) {
    FERRY_ASSIGN(layer.unpacked_size, r.Unsigned("unpacked_size"));
  }
  if (!r.Has("blob")) {
    return Fail(Errc::kInvalidArgument, "missing field " + r.Join("blob"));
  }
  FERRY_ASSIGN(layer.blob, ParseBlob(r.Child("blob")));
  if (r.Has("deltas")) {
    Reader deltas = r.Child("deltas");
    if (auto st = deltas.ExpectList(kMaxDeltas); !st) {
      return Fail(st.error());
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < deltas.node().size(); ++i) {
      Reader d = deltas.Item(i);
      if (auto st = d.Expect(Json::value_t::object, "an object"); !st) {
        return Fail(st.error());
      }
      if (auto st = d.OnlyKeys({"from", "digest", "size", "media_type"}); !st) {
        return Fail(st.error());
      }
      Delta delta;
      FERRY_ASSIGN(delta.from_diff_id, d.String("from"));
      if (!IsSha256Digest(delta.from_diff_id)) {
        return Fail(Errc::kInvalidArgument, d.Join("from") + ": not a sha256 digest");
      }
      if (delta.from_diff_id == layer.diff_id) {
        return Fail(Errc::kInvalidArgument, d.Join("from") + ": a delta from the layer itself");
      }
      if (!seen.insert(delta.from_diff_id).second) {
        return Fail(Errc::kInvalidArgument, d.Join("from") + ": two deltas from the same layer");
      }
      Blob b;
      FERRY_ASSIGN(b.digest, d.String("digest"));
      if (!IsSha256Digest(b.digest)) {
        return Fail(Errc::kInvalidArgument, d.Join("digest") + ": not a sha256 digest");
      }
      FERRY_ASSIGN(b.size, d.Unsigned("size"));
      delta.blob = b;
      layer.deltas.push_back(std::move(delta));
    }
  }
  return layer;
}

bool IsNormalAbsolutePath(std::string_view p) {
  if (p.empty() || p.front() != '/' || p.size() > kMaxStringBytes) {
    return false;
  }
  std::size_t start = 1;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string_view part = p.substr(start, end - start);
    if (part == "." || part == ".." || (part.empty() && end != p.size())) {
      return false;
    }
    start = end + 1;
  }
  return p.find('\0') == std::string_view::npos;
}

Result<RuntimeConfig> ParseConfig(const Reader& r) {
  RuntimeConfig c;
  if (auto st = r.Expect(Json::value_t::object, "an object"); !st) {
    return Fail(st.error());
  }
  if (auto st = r.OnlyKeys({"entrypoint", "cmd", "env", "working_dir", "user", "ports", "labels",
                            "volumes", "capabilities", "resources", "read_only_rootfs", "health"});
      !st) {
    return Fail(st.error());
  }
  FERRY_ASSIGN(c.entrypoint, r.Strings("entrypoint"));
  FERRY_ASSIGN(c.cmd, r.Strings("cmd"));
  if (c.entrypoint.empty() && c.cmd.empty()) {
    return Fail(Errc::kInvalidArgument, r.Where() + "needs an entrypoint or a cmd");
  }
  FERRY_ASSIGN(c.env, r.Strings("env"));
  for (std::size_t i = 0; i < c.env.size(); ++i) {
    const auto eq = c.env[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(Errc::kInvalidArgument,
                  r.Join("env") + "[" + std::to_string(i) + "]: must be KEY=value");
    }
  }
  if (r.Has("working_dir")) {
    FERRY_ASSIGN(c.working_dir, r.String("working_dir"));
    if (!IsNormalAbsolutePath(c.working_dir)) {
      return Fail(Errc::kInvalidArgument,
                  r.Join("working_dir") + ": must be a normalized absolute path");
    }
  }
  if (r.Has("user")) {
    FERRY_ASSIGN(c.user, r.String("user"));
    const auto colon = c.user.find(':');
    auto digits = [](std::string_view s) {
      return !s.empty() && s.size() <= 10 &&
             std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    };
    if (colon == std::string::npos || !digits(std::string_view(c.user).substr(0, colon)) ||
        !digits(std::string_view(c.user).substr(colon + 1)) ||
        std::stoull(c.user.substr(0, colon)) > 0xFFFFFFFEull ||
        std::stoull(c.user.substr(colon + 1)) > 0xFFFFFFFEull) {
      return Fail(Errc::kInvalidArgument, r.Join("user") + ": must be numeric uid:gid");
    }
  }
  if (r.Has("ports")) {
    Reader ports = r.Child("ports");
    if (auto st = ports.ExpectList(kMaxListItems); !st) {
      return Fail(st.error());
    }
    for (std::size_t i = 0; i < ports.node().size(); ++i) {
      const Json& p = ports.node()[i];
      if (!p.is_number_integer() || p.get<std::int64_t>() < 1 || p.get<std::int64_t>() > 65535) {
        return Fail(Errc::kInvalidArgument,
                    r.Join("ports") + "[" + std::to_string(i) + "]: must be a port 1-65535");
      }
      c.ports.push_back(p.get<std::uint16_t>());
    }
  }
  if (r.Has("labels")) {
    Reader labels = r.Child("labels");
    if (auto st = labels.Expect(Json::value_t::object, "an object of strings"); !st) {
      return Fail(st.error());
    }
    if (labels.node().size() > kMaxListItems) {
      return Fail(Errc::kInvalidArgument, r.Join("labels") + ": too many labels");
    }
    for (const auto& [k, v] : labels.node().items()) {
      if (!v.is_string() || k.size() > 256 || v.get_ref<const std::string&>().size() > 4096) {
        return Fail(Errc::kInvalidArgument,
                    r.Join("labels") + "." + k + ": must be a short string");
      }
      c.labels[k] = v.get<std::string>();
    }
  }
  if (r.Has("volumes")) {
    Reader volumes = r.Child("volumes");
    if (auto st = volumes.ExpectList(64); !st) {
      return Fail(st.error());
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < volumes.node().size(); ++i) {
      Reader v = volumes.Item(i);
      if (auto st = v.Expect(Json::value_t::object, "an object"); !st) {
        return Fail(st.error());
      }
      if (auto st = v.OnlyKeys({"name", "path", "read_only"}); !st) {
        return Fail(st.error());
      }
      Volume vol;
      FERRY_ASSIGN(vol.name, v.String("name"));
      if (!IsValidName(vol.name)) {
        return Fail(Errc::kInvalidArgument,
                    v.Join("name") + ": '" + vol.name + "' is not a valid volume name");
      }
      if (!names.insert(vol.name).second) {
        return Fail(Errc::kInvalidArgument, v.Join("name") + ": duplicate volume " + vol.name);
      }
      FERRY_ASSIGN(vol.path, v.String("path"));
      if (!IsNormalAbsolutePath(vol.path) || vol.path == "/") {
        return Fail(Errc::kInvalidArgument,
                    v.Join("path") + ": must be a normalized absolute path below /");
      }
      FERRY_ASSIGN(vol.read_only, v.Bool("read_only", false));
      c.volumes.push_back(std::move(vol));
    }
  }
  FERRY_ASSIGN(c.capabilities, r.Strings("capabilities"));
  for (std::size_t i = 0; i < c.capabilities.size(); ++i) {
    const auto& cap = c.capabilities[i];
    if (cap.empty() || cap.size() > 32 || !std::all_of(cap.begin(), cap.end(), [](char ch) {
          return (ch >= 'A' && ch <= 'Z') || ch == '_';
        })) {
      return Fail(Errc::kInvalidArgument, r.Join("capabilities") + "[" + std::to_string(i) +
                                              "]: '" + cap + "' is not a capability name");
    }
  }
  if (r.Has("resources")) {
    Reader res = r.Child("resources");
    if (auto st = res.Expect(Json::value_t::object, "an object"); !st) {
      return Fail(st.error());
    }
    if (auto st = res.OnlyKeys({"memory_bytes", "pids", "cpu_millis"}); !st) {
      return Fail(st.error());
    }
    if (res.Has("memory_bytes")) {
      FERRY_ASSIGN(c.resources.memory_bytes, res.Unsigned("memory_bytes"));
    }
    if (res.Has("pids")) {
      FERRY_ASSIGN(c.resources.pids, res.Unsigned("pids", 1u << 22));
    }
    if (res.Has("cpu_millis")) {
      FERRY_ASSIGN(c.resources.cpu_millis, res.Unsigned("cpu_millis", 1u << 20));
    }
  }
  FERRY_ASSIGN(c.read_only_rootfs, r.Bool("read_only_rootfs", true));
  if (r.Has("health")) {
    if (!r.node()["health"].is_object()) {
      return Fail(Errc::kInvalidArgument, r.Join("health") + ": must be an object");
    }
    auto check = ParseHealthCheck(r.node()["health"]);
    if (!check) {
      return Fail(Errc::kInvalidArgument, r.Join("health") + ": " + check.error().message());
    }
    c.health = std::move(*check);
  }
  return c;
}

Json BlobJson(const Blob& b, std::string_view media_type) {
  return Json{{"digest", b.digest}, {"size", b.size}, {"media_type", media_type}};
}

}  // namespace

bool IsSha256Digest(std::string_view s) { return Digest::Parse(s).has_value(); }

bool IsValidName(std::string_view s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!ok(s.front())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return ok(c) || c == '_' || c == '.' || c == '-'; });
}

Result<Manifest> ParseManifest(std::string_view json_bytes) {
  if (json_bytes.size() > kMaxManifestBytes) {
    return Fail(Errc::kLimitExceeded,
                "manifest is larger than " + std::to_string(kMaxManifestBytes) + " bytes");
  }
  Json doc = Json::parse(json_bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Fail(Errc::kInvalidArgument, "manifest is not valid JSON");
  }
  Reader r(doc, "");
  if (auto st = r.Expect(Json::value_t::object, "a JSON object"); !st) {
    return Fail(st.error());
  }
  if (auto st = r.OnlyKeys({"schema", "app", "version", "min_from_version", "downgrade",
                            "architecture", "config", "layers", "created", "annotations"});
      !st) {
    return Fail(st.error());
  }
  std::uint64_t schema = 0;
  FERRY_ASSIGN(schema, r.Unsigned("schema"));
  if (schema != kSchemaVersion) {
    return Fail(Errc::kUnsupported, "manifest schema " + std::to_string(schema) +
                                        " is not supported (this ferryd reads schema " +
                                        std::to_string(kSchemaVersion) + ")");
  }
  Manifest m;
  FERRY_ASSIGN(m.app, r.String("app"));
  if (!IsValidName(m.app)) {
    return Fail(Errc::kInvalidArgument, "app: '" + m.app + "' is not a valid app name");
  }
  std::string version;
  FERRY_ASSIGN(version, r.String("version"));
  FERRY_ASSIGN(m.version, ParseSemVer(version));
  if (r.Has("min_from_version")) {
    std::string min_from;
    FERRY_ASSIGN(min_from, r.String("min_from_version"));
    FERRY_ASSIGN(m.min_from_version, ParseSemVer(min_from));
  }
  FERRY_ASSIGN(m.downgrade, r.Bool("downgrade", false));
  if (r.Has("architecture")) {
    FERRY_ASSIGN(m.architecture, r.String("architecture"));
  }
  if (!r.Has("config")) {
    return Fail(Errc::kInvalidArgument, "missing field config");
  }
  FERRY_ASSIGN(m.config, ParseConfig(r.Child("config")));
  if (!r.Has("layers")) {
    return Fail(Errc::kInvalidArgument, "missing field layers");
  }
  Reader layers = r.Child("layers");
  if (auto st = layers.ExpectList(kMaxLayers); !st) {
    return Fail(st.error());
  }
  if (layers.node().empty()) {
    return Fail(Errc::kInvalidArgument, "layers: a release needs at least one layer");
  }
  for (std::size_t i = 0; i < layers.node().size(); ++i) {
    Layer layer;
    FERRY_ASSIGN(layer, ParseLayer(layers.Item(i)));
    m.layers.push_back(std::move(layer));
  }
  return m;
}

std::string SerializeManifest(const Manifest& m) {
  Json config{{"entrypoint", m.config.entrypoint},
              {"cmd", m.config.cmd},
              {"env", m.config.env},
              {"working_dir", m.config.working_dir},
              {"user", m.config.user},
              {"ports", m.config.ports},
              {"labels", m.config.labels},
              {"capabilities", m.config.capabilities},
              {"read_only_rootfs", m.config.read_only_rootfs}};
  Json volumes = Json::array();
  for (const auto& v : m.config.volumes) {
    volumes.push_back(Json{{"name", v.name}, {"path", v.path}, {"read_only", v.read_only}});
  }
  config["volumes"] = volumes;
  Json resources = Json::object();
  if (m.config.resources.memory_bytes) {
    resources["memory_bytes"] = *m.config.resources.memory_bytes;
  }
  if (m.config.resources.pids) {
    resources["pids"] = *m.config.resources.pids;
  }
  if (m.config.resources.cpu_millis) {
    resources["cpu_millis"] = *m.config.resources.cpu_millis;
  }
  config["resources"] = resources;
  if (m.config.health) {
    config["health"] = HealthCheckToJson(*m.config.health);
  }
  Json layers = Json::array();
  for (const auto& l : m.layers) {
    Json deltas = Json::array();
    for (const auto& d : l.deltas) {
      Json dj = BlobJson(d.blob, kDeltaMediaType);
      dj["from"] = d.from_diff_id;
      deltas.push_back(dj);
    }
    Json lj{{"diff_id", l.diff_id},
            {"size", l.size},
            {"blob", BlobJson(l.blob, kLayerMediaType)},
            {"deltas", deltas}};
    if (l.entries) {
      lj["entries"] = *l.entries;
    }
    if (l.unpacked_size) {
      lj["unpacked_size"] = *l.unpacked_size;
    }
    layers.push_back(lj);
  }
  Json doc{{"schema", kSchemaVersion},
           {"app", m.app},
           {"version", m.version.String()},
           {"downgrade", m.downgrade},
           {"architecture", m.architecture},
           {"config", config},
           {"layers", layers}};
  if (m.min_from_version) {
    doc["min_from_version"] = m.min_from_version->String();
  }
  return doc.dump();  // nlohmann::json objects are std::map: keys come out sorted
}

}  // namespace ferry::manifest
