#include "repository.hpp"

#include <algorithm>
#include <set>

#include "ferry/core/check.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/trust/crypto.hpp"
#include "ferry/trust/metadata.hpp"
#include "keys.hpp"

namespace ferry::publish {

namespace {

using trust::Json;

constexpr const char* kRoles[] = {"root", "targets", "snapshot", "timestamp"};

Json Str(std::string s) { return Json(std::move(s)); }
Json Int(std::uint64_t i) { return Json(static_cast<std::int64_t>(i)); }

std::uint64_t VersionOf(const Json& signed_json) {
  const Json* v = signed_json.Find("version");
  return v != nullptr && v->IsInt() ? static_cast<std::uint64_t>(v->AsInt()) : 0;
}

Json MetaEntry(std::uint64_t version, const std::string& bytes) {
  Json::Object hashes;
  hashes.emplace_back("sha256", Str(trust::Sha256Hex(bytes)));
  Json::Object o;
  o.emplace_back("version", Int(version));
  o.emplace_back("length", Int(bytes.size()));
  o.emplace_back("hashes", Json(std::move(hashes)));
  return Json(std::move(o));
}

// Reads a metadata file, checks its shape as a client would, and returns its signed object.
Result<Json> LoadSigned(const std::filesystem::path& path, std::string_view type,
                        trust::Metadata* parsed = nullptr, std::string* raw = nullptr) {
  auto bytes = fs::ReadFile(path);
  if (!bytes) {
    return Fail(bytes.error());
  }
  if (raw != nullptr) {
    *raw = *bytes;
  }
  auto md = trust::ParseMetadata(*bytes, type);
  if (!md) {
    return Fail(md.error().WithContext(path.string()));
  }
  auto doc = trust::ParseJson(*bytes);
  if (!doc) {
    return Fail(doc.error().WithContext(path.string()));
  }
  if (parsed != nullptr) {
    *parsed = std::move(*md);
  }
  return *doc->Find("signed");
}

std::string QuoteEach(const std::string& path) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    out += trust::QuoteComponent(path.substr(start, slash - start));
    if (slash == std::string::npos) {
      return out;
    }
    out += '/';
    start = slash + 1;
  }
}

Json RoleSkeleton(const std::string& type, std::uint64_t version, int expires_days) {
  Json::Object o;
  o.emplace_back("_type", Str(type));
  o.emplace_back("spec_version", Str(std::string(kSpecVersion)));
  o.emplace_back("version", Int(version));
  o.emplace_back("expires", Str(ExpiresIn(expires_days)));
  return Json(std::move(o));
}

}  // namespace

std::string ExpiresIn(int days) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return trust::FormatExpires(now + std::chrono::hours(24) * days);
}

std::vector<std::string> RoleKeyIds(const Json& root, const std::string& role) {
  std::vector<std::string> ids;
  const Json* roles = root.Find("roles");
  const Json* r = roles != nullptr ? roles->Find(role) : nullptr;
  const Json* keyids = r != nullptr ? r->Find("keyids") : nullptr;
  if (keyids != nullptr && keyids->IsArray()) {
    for (const Json& id : keyids->AsArray()) {
      if (id.IsString()) {
        ids.push_back(id.AsString());
      }
    }
  }
  return ids;
}

std::uint64_t RoleThreshold(const Json& root, const std::string& role) {
  const Json* roles = root.Find("roles");
  const Json* r = roles != nullptr ? roles->Find(role) : nullptr;
  const Json* t = r != nullptr ? r->Find("threshold") : nullptr;
  return t != nullptr && t->IsInt() ? static_cast<std::uint64_t>(t->AsInt()) : 1;
}

std::string ManifestTargetName(const std::string& app, const manifest::SemVer& version) {
  return app + "/" + version.String() + ".json";
}

std::string TargetFilePath(const std::string& target_name, const std::string& sha256_hex) {
  const std::string quoted = QuoteEach(target_name);
  const auto slash = quoted.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : quoted.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? quoted : quoted.substr(slash + 1);
  return dir + sha256_hex + "." + name;
}

Result<std::string> SignDocument(const Json& signed_json,
                                 const std::vector<trust::SigningKey>& keys) {
  const std::string canonical = trust::Canonicalize(signed_json);
  Json::Array sigs;
  // A key in both the old and the new root signs once: clients refuse a repeated keyid.
  std::set<std::string> signed_by;
  for (const auto& key : keys) {
    if (!signed_by.insert(key.KeyId()).second) {
      continue;
    }
    auto sig = key.Sign(canonical);
    if (!sig) {
      return Fail(sig.error().WithContext("signing with key " + key.KeyId()));
    }
    Json::Object s;
    s.emplace_back("keyid", Str(key.KeyId()));
    s.emplace_back("sig", Str(*sig));
    sigs.push_back(Json(std::move(s)));
  }
  Json::Object doc;
  doc.emplace_back("signatures", Json(std::move(sigs)));
  doc.emplace_back("signed", signed_json);
  return trust::Serialize(Json(std::move(doc))) + "\n";
}

Status Repository::Lock(LockMode mode) {
  auto fd = LockRepository(dir_, mode);
  if (!fd) {
    return Fail(fd.error());
  }
  lock_ = std::make_shared<UniqueFd>(std::move(*fd));
  return Ok();
}

Status Repository::Init(const std::filesystem::path& dir, const std::filesystem::path& keydir,
                        const InitOptions& options) {
  std::error_code ec;
  if (std::filesystem::exists(dir / "metadata" / "1.root.json", ec)) {
    return Fail(Errc::kAlreadyExists, dir.string() + " already holds a repository");
  }
  const std::uint64_t key_count =
      options.keys_per_role == 0 ? options.threshold : options.keys_per_role;
  if (options.threshold < 1 || options.threshold > 16 || key_count < options.threshold ||
      key_count > 16) {
    return Fail(Errc::kInvalidArgument, "need 1 <= threshold <= keys per role <= 16 (threshold " +
                                            std::to_string(options.threshold) + ", keys " +
                                            std::to_string(key_count) + ")");
  }
  Json::Object keys;
  Json::Object roles;
  for (const char* role : kRoles) {
    Json::Array keyids;
    for (std::uint64_t i = 1; i <= key_count; ++i) {
      const auto path = keydir / (std::string(role) + "-" + std::to_string(i) + ".pem");
      Result<trust::SigningKey> key = LoadKey(path);
      if (!std::filesystem::exists(path, ec)) {
        key = trust::SigningKey::Generate(options.key_type);
        if (key) {
          FERRY_TRY_STATUS(WriteKeyPair(path, *key), "making the " + std::string(role) + " key");
        }
      }
      if (!key) {
        return Fail(key.error());
      }
      keys.emplace_back(key->KeyId(), key->PublicKeyJson());
      keyids.push_back(Str(key->KeyId()));
    }
    Json::Object r;
    r.emplace_back("keyids", Json(std::move(keyids)));
    r.emplace_back("threshold", Int(options.threshold));
    roles.emplace_back(role, Json(std::move(r)));
  }
  Json root = RoleSkeleton("root", 1, options.expires_days);
  root.Set("consistent_snapshot", Json(true));
  root.Set("keys", Json(std::move(keys)));
  root.Set("roles", Json(std::move(roles)));

  FERRY_TRY_STATUS(fs::MakeDirs(dir / "metadata"), "creating " + dir.string());
  FERRY_TRY_STATUS(fs::MakeDirs(dir / "targets"), "creating " + dir.string());
  FERRY_TRY_STATUS(fs::MakeDirs(dir / "blobs" / "sha256"), "creating " + dir.string());
  Repository repo;
  repo.dir_ = dir;
  repo.keydir_ = keydir;
  FERRY_TRY_STATUS(repo.Lock(LockMode::kExclusive), "init");
  auto loaded = LoadKeyDir(keydir);
  if (!loaded) {
    return Fail(loaded.error());
  }
  repo.keys_ = std::move(*loaded);
  repo.root_ = root;
  auto root_bytes = repo.SignRole(root, "root");
  if (!root_bytes) {
    return Fail(root_bytes.error());
  }
  repo.targets_ = RoleSkeleton("targets", 0, options.expires_days);
  repo.targets_.Set("targets", Json(Json::Object{}));
  // Targets, snapshot and timestamp first: the root is what makes the directory a repository.
  FERRY_TRY_STATUS(repo.Commit(true, kDefaultTimestampDays, options.expires_days),
                   "signing the first metadata");
  FERRY_TRY_STATUS(fs::WriteFileAtomic(dir / "metadata" / "1.root.json", *root_bytes),
                   "writing root");
  FERRY_TRY_STATUS(fs::WriteFileAtomic(dir / "metadata" / "root.json", *root_bytes),
                   "writing root");
  return Ok();
}

Result<Repository> Repository::Open(const std::filesystem::path& dir,
                                    const std::filesystem::path& keydir, Access access) {
  std::error_code ec;
  const auto meta = dir / "metadata";
  if (!std::filesystem::exists(meta / "1.root.json", ec)) {
    return Fail(Errc::kFailedPrecondition,
                dir.string() + " is not a Ferry repository (no metadata/1.root.json; run init)");
  }
  Repository repo;
  repo.dir_ = dir;
  repo.keydir_ = keydir;
  if (auto st = repo.Lock(access == Access::kWrite ? LockMode::kExclusive : LockMode::kShared);
      !st) {
    return Fail(st.error());
  }
  std::uint64_t newest_root = 1;
  for (const auto& entry : std::filesystem::directory_iterator(meta, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".root.json")) {
      continue;
    }
    const std::string num = name.substr(0, name.size() - std::string_view(".root.json").size());
    if (num.empty() || num.size() > 12 ||
        !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    newest_root = std::max<std::uint64_t>(newest_root, std::stoull(num));
  }
  auto root = LoadSigned(meta / (std::to_string(newest_root) + ".root.json"), "root");
  if (!root) {
    return Fail(root.error());
  }
  repo.root_ = std::move(*root);
  trust::Metadata ts;
  if (auto t = LoadSigned(meta / "timestamp.json", "timestamp", &ts, &repo.timestamp_bytes_); !t) {
    return Fail(t.error());
  }
  repo.timestamp_version_ = ts.version;
  auto snap_it = ts.meta.find("snapshot.json");
  if (snap_it == ts.meta.end()) {
    return Fail(Errc::kCorrupt, "timestamp.json lists no snapshot.json");
  }
  repo.snapshot_version_ = snap_it->second.version;
  trust::Metadata snap;
  if (auto s = LoadSigned(meta / (std::to_string(repo.snapshot_version_) + ".snapshot.json"),
                          "snapshot", &snap);
      !s) {
    return Fail(s.error());
  }
  auto targets_it = snap.meta.find("targets.json");
  if (targets_it == snap.meta.end()) {
    return Fail(Errc::kCorrupt, "snapshot lists no targets.json");
  }
  auto targets =
      LoadSigned(meta / (std::to_string(targets_it->second.version) + ".targets.json"), "targets");
  if (!targets) {
    return Fail(targets.error());
  }
  repo.targets_ = std::move(*targets);
  if (!keydir.empty()) {
    auto keys = LoadKeyDir(keydir);
    if (!keys) {
      return Fail(keys.error());
    }
    repo.keys_ = std::move(*keys);
  }
  if (access == Access::kRead) {
    repo.lock_.reset();
  }
  return repo;
}

std::uint64_t Repository::root_version() const { return VersionOf(root_); }
std::uint64_t Repository::targets_version() const { return VersionOf(targets_); }

Json& MutableMember(Json& object, const std::string& key) {
  if (object.Find(key) == nullptr) {
    object.Set(key, Json());
  }
  for (auto& [k, v] : object.MutableObject()) {
    if (k == key) {
      return v;
    }
  }
  return object;  // unreachable: the member was just added
}

std::vector<Release> Repository::Releases(const std::string& app) const {
  std::vector<Release> out;
  const Json* targets = targets_.Find("targets");
  if (targets == nullptr || !targets->IsObject()) {
    return out;
  }
  for (const auto& [name, entry] : targets->AsObject()) {
    const auto slash = name.find('/');
    if (slash == std::string::npos || !name.ends_with(".json") ||
        name.find('/', slash + 1) != std::string::npos) {
      continue;
    }
    const std::string name_app = name.substr(0, slash);
    if (!app.empty() && name_app != app) {
      continue;
    }
    auto version = manifest::ParseSemVer(
        std::string_view(name).substr(slash + 1, name.size() - slash - 1 - 5));
    const Json* hashes = entry.Find("hashes");
    const Json* sha = hashes != nullptr ? hashes->Find("sha256") : nullptr;
    if (!version || sha == nullptr || !sha->IsString()) {
      continue;
    }
    out.push_back(
        Release{name, *version, dir_ / "targets" / TargetFilePath(name, sha->AsString())});
  }
  std::sort(out.begin(), out.end(),
            [](const Release& a, const Release& b) { return a.version < b.version; });
  return out;
}

Status Repository::AddTarget(const std::string& name, const std::string& bytes,
                             const Json& custom) {
  FERRY_CHECK(writable());
  const std::string sha = trust::Sha256Hex(bytes);
  const auto path = dir_ / "targets" / TargetFilePath(name, sha);
  FERRY_TRY_STATUS(fs::MakeDirs(path.parent_path()), "creating " + path.parent_path().string());
  FERRY_TRY_STATUS(fs::WriteFileAtomic(path, bytes), "writing target " + name);
  Json::Object hashes;
  hashes.emplace_back("sha256", Str(sha));
  Json::Object entry;
  entry.emplace_back("length", Int(bytes.size()));
  entry.emplace_back("hashes", Json(std::move(hashes)));
  if (!custom.IsNull()) {
    entry.emplace_back("custom", custom);
  }
  Json& targets = MutableMember(targets_, "targets");
  if (!targets.IsObject()) {
    targets = Json(Json::Object{});
  }
  targets.Set(name, Json(std::move(entry)));
  return Ok();
}

Result<std::vector<trust::SigningKey>> Repository::SignersFor(const Json& root,
                                                              const std::string& role) const {
  std::vector<trust::SigningKey> signers;
  const auto ids = RoleKeyIds(root, role);
  for (const auto& id : ids) {
    if (auto it = keys_.find(id); it != keys_.end()) {
      signers.push_back(it->second);
    }
  }
  const std::uint64_t threshold = RoleThreshold(root, role);
  if (signers.size() < threshold) {
    return Fail(Errc::kFailedPrecondition, "key directory '" + keydir_.string() + "' holds " +
                                               std::to_string(signers.size()) +
                                               " of the keys of role " + role + " (" +
                                               std::to_string(threshold) + " needed to sign)");
  }
  return signers;
}

Result<std::string> Repository::SignRole(const Json& signed_json, const std::string& role) const {
  auto signers = SignersFor(root_, role);
  if (!signers) {
    return Fail(signers.error());
  }
  return SignDocument(signed_json, *signers);
}

Status Repository::WriteNewRoot(Json new_root, int expires_days) {
  FERRY_CHECK(writable());
  const std::uint64_t version = root_version() + 1;
  new_root.Set("version", Int(version));
  new_root.Set("expires", Str(ExpiresIn(expires_days)));
  auto old_signers = SignersFor(root_, "root");
  if (!old_signers) {
    return Fail(old_signers.error().WithContext("signing root " + std::to_string(version) +
                                                " with the keys of the current root"));
  }
  auto new_signers = SignersFor(new_root, "root");
  if (!new_signers) {
    return Fail(new_signers.error().WithContext("signing root " + std::to_string(version) +
                                                " with its own keys"));
  }
  std::vector<trust::SigningKey> signers = *old_signers;
  std::set<std::string> seen;
  for (const auto& k : signers) {
    seen.insert(k.KeyId());
  }
  for (const auto& k : *new_signers) {
    if (seen.insert(k.KeyId()).second) {
      signers.push_back(k);
    }
  }
  auto bytes = SignDocument(new_root, signers);
  if (!bytes) {
    return Fail(bytes.error());
  }
  const auto meta = dir_ / "metadata";
  FERRY_TRY_STATUS(fs::WriteFileAtomic(meta / (std::to_string(version) + ".root.json"), *bytes),
                   "writing root");
  FERRY_TRY_STATUS(fs::WriteFileAtomic(meta / "root.json", *bytes), "writing root");
  root_ = std::move(new_root);
  return Ok();
}

Status Repository::Commit(bool bump_targets, int timestamp_days, int expires_days) {
  FERRY_CHECK(writable());
  const auto meta = dir_ / "metadata";
  std::string snapshot_bytes;
  if (bump_targets) {
    const std::uint64_t targets_version = VersionOf(targets_) + 1;
    targets_.Set("version", Int(targets_version));
    targets_.Set("expires", Str(ExpiresIn(expires_days)));
    auto targets_bytes = SignRole(targets_, "targets");
    if (!targets_bytes) {
      return Fail(targets_bytes.error());
    }
    FERRY_TRY_STATUS(fs::WriteFileAtomic(meta / (std::to_string(targets_version) + ".targets.json"),
                                         *targets_bytes),
                     "writing targets");
    ++snapshot_version_;
    Json snapshot = RoleSkeleton("snapshot", snapshot_version_, expires_days);
    Json::Object snapshot_meta;
    snapshot_meta.emplace_back("targets.json", MetaEntry(targets_version, *targets_bytes));
    snapshot.Set("meta", Json(std::move(snapshot_meta)));
    auto signed_snapshot = SignRole(snapshot, "snapshot");
    if (!signed_snapshot) {
      return Fail(signed_snapshot.error());
    }
    snapshot_bytes = std::move(*signed_snapshot);
    FERRY_TRY_STATUS(
        fs::WriteFileAtomic(meta / (std::to_string(snapshot_version_) + ".snapshot.json"),
                            snapshot_bytes),
        "writing snapshot");
  } else {
    auto read = fs::ReadFile(meta / (std::to_string(snapshot_version_) + ".snapshot.json"));
    if (!read) {
      return Fail(read.error());
    }
    snapshot_bytes = std::move(*read);
  }
  ++timestamp_version_;
  Json timestamp = RoleSkeleton("timestamp", timestamp_version_, timestamp_days);
  Json::Object ts_meta;
  ts_meta.emplace_back("snapshot.json", MetaEntry(snapshot_version_, snapshot_bytes));
  timestamp.Set("meta", Json(std::move(ts_meta)));
  auto ts_bytes = SignRole(timestamp, "timestamp");
  if (!ts_bytes) {
    return Fail(ts_bytes.error());
  }
  // The timestamp is what clients fetch first: written last, it publishes everything above.
  FERRY_TRY_STATUS(fs::WriteFileAtomic(meta / "timestamp.json", *ts_bytes), "writing timestamp");
  timestamp_bytes_ = std::move(*ts_bytes);
  return Ok();
}

}  // namespace ferry::publish
