#include "ferry/trust/metadata.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>

#include "ferry/trust/error.hpp"

namespace ferry::trust {
namespace {

std::unexpected<Error> Bad(std::string what) {
  return Fail(TrustErrc::kMalformed, std::move(what));
}

Result<const Json*> Field(const Json& obj, std::string_view key) {
  const Json* v = obj.Find(key);
  if (v == nullptr) {
    return Bad("missing field \"" + std::string(key) + "\"");
  }
  return v;
}

Result<const Json::Object*> ObjectField(const Json& obj, std::string_view key) {
  auto v = Field(obj, key);
  if (!v) {
    return std::unexpected(v.error());
  }
  if (!(*v)->IsObject()) {
    return Bad(std::string(key) + " is not an object");
  }
  return &(*v)->AsObject();
}

// Parses each member of the object field `key` with `parse` into `out`; an error names the member
// after `what`.
template <class T, class Parse>
Status ParseEachMember(const Json& obj, std::string_view key, std::string_view what,
                       const Parse& parse, std::map<std::string, T>& out) {
  auto members = ObjectField(obj, key);
  if (!members) {
    return std::unexpected(members.error());
  }
  for (const auto& [name, value] : **members) {
    auto parsed = parse(value);
    if (!parsed) {
      return std::unexpected(parsed.error().WithContext(std::string(what) + name));
    }
    out[name] = std::move(*parsed);
  }
  return Ok();
}

Result<std::string> StringField(const Json& obj, std::string_view key) {
  auto v = Field(obj, key);
  if (!v) {
    return std::unexpected(v.error());
  }
  if (!(*v)->IsString()) {
    return Bad("field \"" + std::string(key) + "\" is not a string");
  }
  return (*v)->AsString();
}

Result<std::uint64_t> UintValue(const Json& v, std::string_view what, std::uint64_t min) {
  if (!v.IsInt() || v.AsInt() < 0 || static_cast<std::uint64_t>(v.AsInt()) < min) {
    return Bad(std::string(what) + " must be an integer >= " + std::to_string(min));
  }
  return static_cast<std::uint64_t>(v.AsInt());
}

Result<std::uint64_t> UintField(const Json& obj, std::string_view key, std::uint64_t min) {
  auto v = Field(obj, key);
  if (!v) {
    return std::unexpected(v.error());
  }
  return UintValue(**v, key, min);
}

Result<std::vector<std::string>> StringArray(const Json& v, std::string_view what) {
  if (!v.IsArray()) {
    return Bad(std::string(what) + " is not an array");
  }
  std::vector<std::string> out;
  for (const auto& item : v.AsArray()) {
    if (!item.IsString()) {
      return Bad(std::string(what) + " holds a non-string");
    }
    out.push_back(item.AsString());
  }
  return out;
}

Result<Hashes> ParseHashes(const Json& v) {
  if (!v.IsObject() || v.AsObject().empty()) {
    return Bad("hashes must be a non-empty object");
  }
  Hashes out;
  for (const auto& [alg, digest] : v.AsObject()) {
    if (!digest.IsString()) {
      return Bad("hash \"" + alg + "\" is not a string");
    }
    out.emplace_back(alg, digest.AsString());
  }
  return out;
}

Result<RoleKeys> ParseRoleKeys(const Json& v) {
  RoleKeys role;
  auto keyids_json = Field(v, "keyids");
  if (!keyids_json) {
    return std::unexpected(keyids_json.error());
  }
  auto keyids = StringArray(**keyids_json, "keyids");
  if (!keyids) {
    return std::unexpected(keyids.error());
  }
  if (std::set<std::string>(keyids->begin(), keyids->end()).size() != keyids->size()) {
    return Bad("duplicate key id in a role");
  }
  role.keyids = std::move(*keyids);
  auto threshold = UintField(v, "threshold", 1);
  if (!threshold) {
    return std::unexpected(threshold.error());
  }
  role.threshold = *threshold;
  return role;
}

Result<std::map<std::string, PublicKey>> ParseKeys(const Json& v) {
  if (!v.IsObject()) {
    return Bad("keys is not an object");
  }
  std::map<std::string, PublicKey> keys;
  for (const auto& [keyid, key] : v.AsObject()) {
    auto keytype = StringField(key, "keytype");
    auto scheme = StringField(key, "scheme");
    auto keyval = Field(key, "keyval");
    if (!keytype || !scheme || !keyval) {
      return Bad("key " + keyid + " lacks keytype, scheme or keyval");
    }
    auto pub = StringField(**keyval, "public");
    if (!pub) {
      return Bad("key " + keyid + " lacks keyval.public");
    }
    keys[keyid] = PublicKey{*keytype, *scheme, *pub};
  }
  return keys;
}

Result<MetaFile> ParseMetaFile(const Json& v) {
  if (!v.IsObject()) {
    return Bad("meta entry is not an object");
  }
  MetaFile out;
  auto version = UintField(v, "version", 1);
  if (!version) {
    return std::unexpected(version.error());
  }
  out.version = *version;
  if (const Json* length = v.Find("length")) {
    auto n = UintValue(*length, "length", 0);
    if (!n) {
      return std::unexpected(n.error());
    }
    out.length = *n;
  }
  if (const Json* hashes = v.Find("hashes")) {
    auto h = ParseHashes(*hashes);
    if (!h) {
      return std::unexpected(h.error());
    }
    out.hashes = std::move(*h);
  }
  return out;
}

// The keys listed in the "keys" field of `obj`, by keyid.
Result<std::map<std::string, PublicKey>> KeysField(const Json& obj) {
  auto keys = Field(obj, "keys");
  if (!keys) {
    return std::unexpected(keys.error());
  }
  return ParseKeys(**keys);
}

Status ParseDelegations(const Json& v, Metadata& md) {
  if (!v.IsObject()) {
    return Bad("delegations is not an object");
  }
  md.has_delegations = true;
  auto keys = KeysField(v);
  if (!keys) {
    return std::unexpected(keys.error());
  }
  md.keys = std::move(*keys);
  const Json* succinct = v.Find("succinct_roles");
  if ((succinct == nullptr) == (v.Find("roles") == nullptr)) {
    return Bad("delegations need exactly one of roles, succinct_roles");
  }
  if (succinct != nullptr) {
    SuccinctRoles bins;
    auto keys_of_bins = ParseRoleKeys(*succinct);
    if (!keys_of_bins) {
      return std::unexpected(keys_of_bins.error().WithContext("succinct_roles"));
    }
    bins.keys = std::move(*keys_of_bins);
    auto bit_length = UintField(*succinct, "bit_length", 1);
    auto prefix = StringField(*succinct, "name_prefix");
    if (!bit_length || !prefix || *bit_length > 32) {
      return Bad("succinct_roles needs bit_length 1 to 32 and a name_prefix");
    }
    bins.bit_length = static_cast<unsigned>(*bit_length);
    bins.name_prefix = *prefix;
    md.succinct_roles = std::move(bins);
    return Ok();
  }
  auto roles = Field(v, "roles");
  if (!roles) {
    return std::unexpected(roles.error());
  }
  if (!(*roles)->IsArray()) {
    return Bad("delegations.roles is not an array");
  }
  std::set<std::string> names;
  for (const auto& r : (*roles)->AsArray()) {
    DelegatedRole role;
    auto name = StringField(r, "name");
    if (!name) {
      return std::unexpected(name.error());
    }
    if (!names.insert(*name).second) {
      return Bad("delegated role \"" + *name + "\" listed twice");
    }
    if (*name == "root" || *name == "timestamp" || *name == "snapshot" || *name == "targets") {
      return Bad("delegated role may not be named \"" + *name + "\"");
    }
    role.name = *name;
    auto keys_of_role = ParseRoleKeys(r);
    if (!keys_of_role) {
      return std::unexpected(keys_of_role.error());
    }
    role.keys = std::move(*keys_of_role);
    auto terminating = Field(r, "terminating");
    if (!terminating || !(*terminating)->IsBool()) {
      return Bad("delegated role \"" + *name + "\" lacks a boolean terminating");
    }
    role.terminating = (*terminating)->AsBool();
    const Json* paths = r.Find("paths");
    const Json* prefixes = r.Find("path_hash_prefixes");
    if ((paths == nullptr) == (prefixes == nullptr)) {
      return Bad("delegated role \"" + *name + "\" needs exactly one of paths, path_hash_prefixes");
    }
    if (paths != nullptr) {
      auto p = StringArray(*paths, "paths");
      if (!p) {
        return std::unexpected(p.error());
      }
      role.paths = std::move(*p);
    } else {
      auto p = StringArray(*prefixes, "path_hash_prefixes");
      if (!p) {
        return std::unexpected(p.error());
      }
      role.path_hash_prefixes = std::move(*p);
    }
    md.delegated_roles.push_back(std::move(role));
  }
  return Ok();
}

bool SpecVersionSupported(const std::string& v) {
  // Any 1.x (or 1.x.y) release of the specification: minor releases stay compatible.
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = v.find('.', start);
    parts.push_back(v.substr(start, dot - start));
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0] != "1") {
    return false;
  }
  return std::none_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); });
}

}  // namespace

Result<WallTime> ParseExpires(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char z = 0;
  int consumed = 0;
  const std::string str(text);
  if (str.size() != 20 ||
      std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &y, &mo, &d, &h, &mi, &s, &z,
                  &consumed) != 7 ||
      consumed != 20 || z != 'Z' || str[4] != '-' || str[7] != '-' || str[10] != 'T' ||
      str[13] != ':' || str[16] != ':') {
    return Bad("expires \"" + str + "\" is not YYYY-MM-DDTHH:MM:SSZ");
  }
  static constexpr std::size_t kDigitPositions[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
  for (const std::size_t i : kDigitPositions) {
    if (str[i] < '0' || str[i] > '9') {
      return Bad("expires \"" + str + "\" is not YYYY-MM-DDTHH:MM:SSZ");
    }
  }
  const std::chrono::year_month_day ymd{std::chrono::year(y),
                                        std::chrono::month(static_cast<unsigned>(mo)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) {
    return Bad("expires \"" + str + "\" is not a valid time");
  }
  const std::chrono::seconds since_epoch = std::chrono::sys_days(ymd).time_since_epoch() +
                                           std::chrono::hours(h) + std::chrono::minutes(mi) +
                                           std::chrono::seconds(s);
  // The clock counts nanoseconds in 64 bits (years 1678 to 2262); times beyond are clamped, so
  // "9999-12-31T23:59:59Z" means "never" rather than overflowing.
  using Limits = std::numeric_limits<WallTime::rep>;
  constexpr auto kMax =
      std::chrono::duration_cast<std::chrono::seconds>(WallTime::duration(Limits::max()));
  constexpr auto kMin =
      std::chrono::duration_cast<std::chrono::seconds>(WallTime::duration(Limits::min()));
  if (since_epoch >= kMax) {
    return WallTime::max();
  }
  if (since_epoch <= kMin) {
    return WallTime::min();
  }
  return WallTime(std::chrono::duration_cast<WallTime::duration>(since_epoch));
}

std::string FormatExpires(WallTime t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto days = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<Metadata> ParseMetadata(std::string_view bytes, std::string_view expected_type) {
  auto doc = ParseJson(bytes);
  if (!doc) {
    return std::unexpected(doc.error());
  }
  if (!doc->IsObject()) {
    return Bad("metadata is not an object");
  }
  auto signed_json = Field(*doc, "signed");
  auto signatures_json = Field(*doc, "signatures");
  if (!signed_json || !signatures_json) {
    return Bad("metadata needs \"signed\" and \"signatures\"");
  }
  const Json& s = **signed_json;
  if (!s.IsObject()) {
    return Bad("\"signed\" is not an object");
  }
  if (!(*signatures_json)->IsArray()) {
    return Bad("\"signatures\" is not an array");
  }
  Metadata md;
  std::set<std::string> signed_by;
  for (const auto& sig : (*signatures_json)->AsArray()) {
    auto keyid = StringField(sig, "keyid");
    auto value = StringField(sig, "sig");
    if (!keyid || !value) {
      return Bad("a signature lacks keyid or sig");
    }
    // Which of two signatures by one key counts is ambiguous; python-tuf refuses such documents.
    if (!signed_by.insert(*keyid).second) {
      return Bad("key " + *keyid + " signs more than once");
    }
    md.signatures.push_back({*keyid, *value});
  }
  auto type = StringField(s, "_type");
  if (!type) {
    return std::unexpected(type.error());
  }
  if (*type != expected_type) {
    return Bad("expected " + std::string(expected_type) + " metadata, got \"" + *type + "\"");
  }
  md.type = *type;
  auto spec = StringField(s, "spec_version");
  if (!spec) {
    return std::unexpected(spec.error());
  }
  if (!SpecVersionSupported(*spec)) {
    return Bad("unsupported spec_version \"" + *spec + "\"");
  }
  md.spec_version = *spec;
  auto version = UintField(s, "version", 1);
  if (!version) {
    return std::unexpected(version.error());
  }
  md.version = *version;
  auto expires_text = StringField(s, "expires");
  if (!expires_text) {
    return std::unexpected(expires_text.error());
  }
  auto expires = ParseExpires(*expires_text);
  if (!expires) {
    return std::unexpected(expires.error());
  }
  md.expires = *expires;

  if (md.type == "root") {
    if (const Json* cs = s.Find("consistent_snapshot")) {
      if (!cs->IsBool()) {
        return Bad("consistent_snapshot is not a boolean");
      }
      md.consistent_snapshot = cs->AsBool();
    }
    auto keys = KeysField(s);
    if (!keys) {
      return std::unexpected(keys.error());
    }
    md.keys = std::move(*keys);
    if (auto st = ParseEachMember(s, "roles", "role ", ParseRoleKeys, md.roles); !st) {
      return std::unexpected(st.error());
    }
    if (md.roles.size() != 4 || !md.roles.contains("root") || !md.roles.contains("timestamp") ||
        !md.roles.contains("snapshot") || !md.roles.contains("targets")) {
      return Bad("root must define exactly the roles root, timestamp, snapshot and targets");
    }
  } else if (md.type == "timestamp" || md.type == "snapshot") {
    if (auto st = ParseEachMember(s, "meta", "meta ", ParseMetaFile, md.meta); !st) {
      return std::unexpected(st.error());
    }
    if (md.type == "timestamp" && (md.meta.size() != 1 || !md.meta.contains("snapshot.json"))) {
      return Bad("timestamp meta must list snapshot.json alone");
    }
  } else if (md.type == "targets") {
    auto targets = ObjectField(s, "targets");
    if (!targets) {
      return std::unexpected(targets.error());
    }
    for (const auto& [path, entry] : **targets) {
      TargetFile file;
      file.path = path;
      auto length = UintField(entry, "length", 0);
      if (!length) {
        return std::unexpected(length.error().WithContext("target " + path));
      }
      file.length = *length;
      auto hashes_json = Field(entry, "hashes");
      if (!hashes_json) {
        return std::unexpected(hashes_json.error().WithContext("target " + path));
      }
      auto hashes = ParseHashes(**hashes_json);
      if (!hashes) {
        return std::unexpected(hashes.error().WithContext("target " + path));
      }
      file.hashes = std::move(*hashes);
      md.targets[path] = std::move(file);
    }
    if (const Json* delegations = s.Find("delegations")) {
      FERRY_TRY_STATUS(ParseDelegations(*delegations, md), "delegations");
    }
  } else {
    return Bad("unknown metadata type \"" + md.type + "\"");
  }
  md.canonical_signed = Canonicalize(s);
  return md;
}

Status VerifyThreshold(const Metadata& md, const std::map<std::string, PublicKey>& keys,
                       const RoleKeys& role, std::string_view role_name) {
  std::set<std::string> counted_keyids;
  std::set<std::string> counted_keys;
  for (const auto& keyid : role.keyids) {
    const auto key = keys.find(keyid);
    if (key == keys.end() || counted_keyids.contains(keyid) ||
        counted_keys.contains(key->second.Identity())) {
      continue;
    }
    for (const auto& sig : md.signatures) {
      if (sig.keyid == keyid && VerifySignature(key->second, md.canonical_signed, sig.sig)) {
        counted_keyids.insert(keyid);
        counted_keys.insert(key->second.Identity());
        break;
      }
    }
  }
  if (counted_keyids.size() < role.threshold) {
    return Fail(TrustErrc::kBadSignature,
                std::string(role_name) + ": " + std::to_string(counted_keyids.size()) + " of " +
                    std::to_string(role.threshold) + " required signatures valid");
  }
  return Ok();
}

Status VerifyLengthAndHashes(std::string_view bytes, std::optional<std::uint64_t> length,
                             const Hashes& hashes) {
  if (length && bytes.size() != *length) {
    return Fail(TrustErrc::kHashMismatch, "length " + std::to_string(bytes.size()) +
                                              " differs from signed length " +
                                              std::to_string(*length));
  }
  for (const auto& [alg, expected] : hashes) {
    auto actual = HashHex(alg, bytes);
    if (!actual) {
      return std::unexpected(actual.error());
    }
    if (*actual != expected) {
      return Fail(TrustErrc::kHashMismatch,
                  alg + " mismatch: got " + *actual + ", signed " + expected);
    }
  }
  return Ok();
}

}  // namespace ferry::trust
