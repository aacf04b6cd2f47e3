// The client workflow against generated repositories: the happy path for every key type, and the
// attacks of docs/testing.md §5 on signatures, rollback, freeze, mix-and-match and endless data.
#include "ferry/trust/updater.hpp"

#include <gtest/gtest.h>

#include "ferry/fetch/http_client.hpp"
#include "trust_env.hpp"

namespace ferry::trust::testing {
namespace {

using std::chrono::hours;

class AllKeyTypes : public ::testing::TestWithParam<KeyType> {};

TEST_P(AllKeyTypes, RefreshesAndDownloadsVerifiedTarget) {
  Env env(GetParam());
  env.repo.targets["targets"].targets["apps/demo/manifest.json"] = "{\"app\":\"demo\"}";
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("timestamp"), 2u);
  EXPECT_EQ(env.Trusted("snapshot"), 2u);
  EXPECT_EQ(env.Trusted("targets"), 2u);
  auto bytes = env.Download("apps/demo/manifest.json");
  ASSERT_TRUE(bytes) << bytes.error().String();
  EXPECT_EQ(*bytes, "{\"app\":\"demo\"}");
  // Consistent snapshots: versioned metadata and hash-prefixed target names.
  EXPECT_TRUE(env.http.Requested("metadata/2.snapshot.json"));
  EXPECT_TRUE(env.http.Requested("metadata/2.targets.json"));
  EXPECT_TRUE(
      env.http.Requested(env.repo.TargetPathFor("apps/demo/manifest.json", "{\"app\":\"demo\"}")));
  // The stored bytes are exactly those received.
  EXPECT_EQ(**env.store.Load("snapshot"), env.repo.files.at("metadata/2.snapshot.json"));
}

TEST_P(AllKeyTypes, ThresholdOfTwoNeedsTwoDistinctKeys) {
  Env env(GetParam());
  const SigningKey second = env.repo.NewKey();
  env.repo.AddRootKey("timestamp", second);
  env.repo.root_roles["timestamp"].threshold = 2;
  env.repo.root_version = 2;
  env.repo.PublishRoot();
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  // Now only one of the two keys signs.
  const SigningKey first = env.repo.signers["timestamp"][0];
  env.repo.signers["timestamp"] = {first, first};
  env.repo.BumpAndPublish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
  EXPECT_EQ(env.Trusted("timestamp"), 2u);
}

INSTANTIATE_TEST_SUITE_P(Trust, AllKeyTypes,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256,
                                           KeyType::kRsaPss));

TEST(Updater, FailsWithoutTrustedRoot) {
  Env env;
  ASSERT_TRUE(env.store.Remove("root"));
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kNotTrusted));
}

TEST(Updater, RejectsUnsignedMetadataOfEachRole) {
  for (const char* role : {"timestamp", "snapshot", "targets"}) {
    Env env;
    env.repo.signers[role].clear();
    env.repo.BumpAndPublish();
    EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature)) << role;
    EXPECT_EQ(env.Trusted(role), 0u) << role;
  }
}

TEST(Updater, RejectsUnsignedNewRoot) {
  Env env;
  env.repo.root_version = 2;
  env.repo.signers["root"].clear();
  env.repo.PublishRoot();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
  EXPECT_EQ(env.Trusted("root"), 1u);
}

TEST(Updater, RejectsMetadataSignedByWrongKey) {
  Env env;
  env.repo.signers["snapshot"] = {env.repo.signers["targets"][0]};
  env.repo.BumpAndPublish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
}

TEST(Updater, InvalidExtraSignatureDoesNotSpoilValidThreshold) {
  Env env;
  env.repo.BumpAndPublish();
  // Prepend garbage signatures by an unknown key and by a key of another role.
  auto add_bad = [](std::string& bytes, const std::string& keyid) {
    const std::string marker = "\"signatures\":[";
    bytes.insert(bytes.find(marker) + marker.size(),
                 "{\"keyid\":\"" + keyid + "\",\"sig\":\"00ff\"},");
  };
  auto& ts = env.repo.files["metadata/timestamp.json"];
  add_bad(ts, env.repo.signers["snapshot"][0].KeyId());
  add_bad(ts, std::string(64, 'a'));
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("timestamp"), 2u);
}

TEST(Updater, RepeatedKeyIdInSignaturesIsRefusedNamingIt) {
  Env env;
  ASSERT_TRUE(env.Refresh());
  env.repo.BumpAndPublish();
  // A second signature under the timestamp key's id, even a valid copy, makes the document
  // ambiguous; python-tuf refuses it too.
  auto& ts = env.repo.files["metadata/timestamp.json"];
  const std::string keyid = env.repo.signers["timestamp"][0].KeyId();
  const std::string marker = "\"signatures\":[";
  const auto begin = ts.find(marker) + marker.size();
  const auto end = ts.find('}', begin) + 1;
  ts.insert(begin, ts.substr(begin, end - begin) + ",");
  auto status = env.Refresh();
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message().find(keyid), std::string::npos) << status.error().message();
  EXPECT_NE(status.error().message().find("more than once"), std::string::npos)
      << status.error().message();
  EXPECT_EQ(env.Trusted("timestamp"), 1u);
}

TEST(Updater, SameKeyUnderTwoKeyIdsCountsOnce) {
  Env env;
  const SigningKey key = env.repo.signers["snapshot"][0];
  // The same public key listed under a second id, with threshold 2.
  Json alias = key.PublicKeyJson();
  alias.Set("x-alias", Json(std::string("1")));
  const std::string alias_id = KeyIdOf(alias);
  env.repo.root_keys[alias_id] = key.PublicKeyJson();
  env.repo.root_roles["snapshot"].keyids.push_back(alias_id);
  env.repo.root_roles["snapshot"].threshold = 2;
  env.repo.root_version = 2;
  env.repo.PublishRoot();
  // Timestamp lists no snapshot hash, so the tampered snapshot reaches the signature check.
  env.repo.snapshot_meta_hashes = false;
  env.repo.BumpAndPublish();
  std::string& snap = env.repo.files["metadata/2.snapshot.json"];
  const std::string sig_marker = "\"keyid\":\"" + key.KeyId() + "\"";
  const auto pos = snap.find(sig_marker);
  ASSERT_NE(pos, std::string::npos);
  const auto start = snap.rfind('{', pos);
  const auto end = snap.find('}', pos);
  std::string dup = snap.substr(start, end - start + 1);
  dup.replace(dup.find(key.KeyId()), key.KeyId().size(), alias_id);
  snap.insert(start, dup + ",");
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
  EXPECT_EQ(env.Trusted("snapshot"), 0u);
}

TEST(Updater, RejectsRollbackOfTimestampAcrossRestart) {
  Env env;
  env.repo.BumpAndPublish();
  const std::string old_timestamp = env.repo.files["metadata/timestamp.json"];
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  env.repo.files["metadata/timestamp.json"] = old_timestamp;
  // A new Updater: the floor comes from the store.
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
  EXPECT_EQ(env.Trusted("timestamp"), 3u);
}

TEST(Updater, SameTimestampVersionKeepsTrustedCopy) {
  Env env;
  ASSERT_TRUE(env.Refresh());
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("timestamp"), 1u);
}

TEST(Updater, RejectsRollbackOfSnapshotVersionInTimestamp) {
  Env env;
  env.repo.snapshot_version = 5;
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  env.repo.snapshot_version = 3;
  env.repo.timestamp_version = 10;
  env.repo.Publish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
}

TEST(Updater, RejectsRollbackOfTargetsVersionInSnapshot) {
  Env env;
  env.repo.targets["targets"].version = 5;
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  env.repo.targets["targets"].version = 4;
  env.repo.snapshot_version += 1;
  env.repo.timestamp_version += 1;
  env.repo.Publish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
  EXPECT_EQ(env.Trusted("targets"), 6u);
}

TEST(Updater, RejectsSnapshotWhoseVersionDiffersFromTimestamp) {
  Env env;
  env.repo.BumpAndPublish();
  env.repo.files["metadata/2.snapshot.json"] = env.repo.files["metadata/1.snapshot.json"];
  env.repo.snapshot_meta_hashes = false;
  env.repo.Publish();
  env.repo.files["metadata/2.snapshot.json"] = env.repo.files["metadata/1.snapshot.json"];
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
}

TEST(Updater, RejectsExpiredMetadataOfEachRole) {
  for (const char* role : {"root", "timestamp", "snapshot", "targets"}) {
    Env env;
    const auto past = kStart - hours(1);
    if (std::string(role) == "root") {
      env.repo.root_expires = past;
      env.repo.root_version = 2;
      env.repo.PublishRoot();
    } else if (std::string(role) == "timestamp") {
      env.repo.timestamp_expires = past;
    } else if (std::string(role) == "snapshot") {
      env.repo.snapshot_expires = past;
    } else {
      env.repo.targets["targets"].expires = past;
    }
    env.repo.BumpAndPublish();
    EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kExpired)) << role;
  }
}

TEST(Updater, ReplayedMetadataExpiresWithTime) {
  Env env;
  env.repo.timestamp_expires = kStart + hours(24);
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  // The repository is frozen: the same timestamp is served forever.
  env.clock.Advance(hours(25));
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kExpired));
}

TEST(Updater, ClockResetTo1970DoesNotRevalidateExpiredMetadata) {
  Env env;
  ASSERT_TRUE(env.Refresh());
  env.clock.Advance(hours(24 * 30));
  ASSERT_TRUE(env.Refresh());  // raises the time floor to now
  // An attacker replays metadata that expired ten days ago, and the RTC battery died.
  env.repo.timestamp_expires = env.clock.WallNow() - hours(24 * 10);
  env.repo.BumpAndPublish();
  env.clock.SetWall(std::chrono::system_clock::time_point{});
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kExpired));
  auto floor = env.store.TimeFloor();
  ASSERT_TRUE(floor);
  EXPECT_EQ(*floor, kStart + hours(24 * 30));
}

TEST(Updater, RejectsSnapshotNotMatchingTimestampHash) {
  Env env;
  env.repo.mutate["snapshot"] = [](Json& s) { s.Set("x-note", Json(std::string("first"))); };
  env.repo.BumpAndPublish();
  // A validly signed snapshot of the same version and length, but not the one timestamp names.
  env.repo.mutate["snapshot"] = [](Json& s) { s.Set("x-note", Json(std::string("other"))); };
  const std::string ts = env.repo.files["metadata/timestamp.json"];
  env.repo.Publish();
  env.repo.files["metadata/timestamp.json"] = ts;
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kHashMismatch));
}

TEST(Updater, RejectsTargetsNotMatchingSnapshotHashAndLength) {
  Env env;
  env.repo.targets_meta_hashes = true;
  env.repo.BumpAndPublish();
  std::string& targets = env.repo.files["metadata/2.targets.json"];
  targets += " ";  // longer than signed
  auto status = env.Refresh();
  ASSERT_FALSE(status);
  EXPECT_TRUE(status.error().Is(TrustErrc::kHashMismatch) ||
              status.error().Is(fetch::FetchErrc::kTooLarge))
      << status.error().String();
  targets.pop_back();
  targets.back() = ' ';  // same length, other bytes
  status = env.Refresh();
  ASSERT_FALSE(status);
  EXPECT_TRUE(status.error().Is(TrustErrc::kHashMismatch)) << status.error().String();
}

TEST(Updater, RejectsTargetWithWrongBytesOrLength) {
  Env env;
  env.repo.targets["targets"].targets["a.bin"] = "good content";
  env.repo.BumpAndPublish();
  const std::string path = env.repo.TargetPathFor("a.bin", "good content");
  env.repo.files[path] = "evil content";  // same length
  auto bytes = env.Download("a.bin");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kHashMismatch)) << bytes.error().String();
  env.repo.files[path] = "good content plus more";  // longer: never read past the signed length
  bytes = env.Download("a.bin");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(fetch::FetchErrc::kTooLarge)) << bytes.error().String();
  EXPECT_EQ(env.http.requests.back().second, 12u);
  env.repo.files[path] = "good";  // shorter
  bytes = env.Download("a.bin");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kHashMismatch));
}

TEST(Updater, MixAndMatchTargetFromOtherReleaseIsRejected) {
  Env env;
  env.repo.targets["targets"].targets["layer"] = "release A layer";
  env.repo.BumpAndPublish();
  const std::string old_path = env.repo.TargetPathFor("layer", "release A layer");
  env.repo.targets["targets"].targets["layer"] = "release B layer";
  env.repo.BumpAndPublish();
  env.repo.files[env.repo.TargetPathFor("layer", "release B layer")] = env.repo.files[old_path];
  auto bytes = env.Download("layer");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kHashMismatch));
}

TEST(Updater, EndlessTimestampIsCutAtConfiguredMaximum) {
  Env env;
  env.repo.mutate["timestamp"] = [](Json& s) { s.Set("pad", Json(std::string(20000, 'x'))); };
  env.repo.BumpAndPublish();
  auto status = env.Refresh();
  ASSERT_FALSE(status);
  EXPECT_TRUE(status.error().Is(fetch::FetchErrc::kTooLarge)) << status.error().String();
  for (const auto& [url, max] : env.http.requests) {
    if (url.ends_with("timestamp.json")) {
      EXPECT_EQ(max, env.Config().timestamp_max_length);
    }
  }
}

TEST(Updater, EndlessRootIsCutAtConfiguredMaximum) {
  Env env;
  env.repo.root_version = 2;
  env.repo.mutate["root"] = [](Json& s) { s.Set("pad", Json(std::string(600000, 'x'))); };
  env.repo.PublishRoot();
  auto status = env.Refresh();
  ASSERT_FALSE(status);
  EXPECT_TRUE(status.error().Is(fetch::FetchErrc::kTooLarge));
}

TEST(Updater, SnapshotDownloadIsBoundedBySignedLength) {
  Env env;
  env.repo.BumpAndPublish();
  env.repo.files["metadata/2.snapshot.json"] += std::string(1000, ' ');
  auto status = env.Refresh();
  ASSERT_FALSE(status);
  for (const auto& [url, max] : env.http.requests) {
    if (url.ends_with("2.snapshot.json")) {
      EXPECT_LT(max, 1000u);
    }
  }
}

TEST(Updater, KeepsUnknownFieldsInSignedBytes) {
  Env env;
  env.repo.mutate["targets"] = [](Json& s) {
    Json::Object custom;
    custom.emplace_back("zeta", Json(std::string("1")));
    custom.emplace_back("alpha", Json(std::int64_t{2}));
    s.Set("x-vendor", Json(std::move(custom)));
  };
  env.repo.mutate["timestamp"] = [](Json& s) { s.Set("spec_version", Json(std::string("1.99"))); };
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
}

TEST(Updater, RejectsUnsupportedSpecVersion) {
  Env env;
  env.repo.mutate["timestamp"] = [](Json& s) { s.Set("spec_version", Json(std::string("2.0.0"))); };
  env.repo.BumpAndPublish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kMalformed));
}

TEST(Updater, RejectsUnknownHashAlgorithm) {
  Env env;
  env.repo.mutate["timestamp"] = [](Json& s) {
    Json::Object hashes;
    hashes.emplace_back("md5", Json(std::string("00")));
    Json entry = *s.Find("meta")->Find("snapshot.json");
    entry.Set("hashes", Json(std::move(hashes)));
    Json::Object meta;
    meta.emplace_back("snapshot.json", std::move(entry));
    s.Set("meta", Json(std::move(meta)));
  };
  env.repo.BumpAndPublish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kUnsupported));
}

TEST(Updater, RejectsWrongMetadataType) {
  Env env;
  env.repo.BumpAndPublish();
  // A validly signed snapshot served as timestamp (same key, so only the type check stops it).
  env.repo.signers["snapshot"] = env.repo.signers["timestamp"];
  env.repo.root_roles["snapshot"] = env.repo.root_roles["timestamp"];
  env.repo.Publish();
  env.repo.files["metadata/timestamp.json"] = env.repo.files["metadata/2.snapshot.json"];
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kMalformed));
}

TEST(Updater, WorksWithoutConsistentSnapshots) {
  Env env;
  env.repo.consistent_snapshot = false;
  env.repo.root_version = 2;
  env.repo.PublishRoot();
  env.repo.targets["targets"].targets["dir/file.txt"] = "plain";
  env.repo.BumpAndPublish();
  auto bytes = env.Download("dir/file.txt");
  ASSERT_TRUE(bytes) << bytes.error().String();
  EXPECT_TRUE(env.http.Requested("metadata/snapshot.json"));
  EXPECT_TRUE(env.http.Requested("metadata/targets.json"));
  EXPECT_TRUE(env.http.Requested("targets/dir/file.txt"));
}

TEST(Expires, ParsesStrictFormatAndClampsFarDates) {
  auto t = ParseExpires("2030-01-02T03:04:05Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatExpires(*t), "2030-01-02T03:04:05Z");
  EXPECT_EQ(*ParseExpires("9999-12-31T23:59:59Z"), WallTime::max());
  EXPECT_EQ(*ParseExpires("1015-01-01T00:00:00Z"), WallTime::min());
  for (const char* bad : {"2030-01-02 03:04:05Z", "2030-1-02T03:04:05Z", "2030-02-30T00:00:00Z",
                          "2030-01-02T03:04:05", "2030-01-02T03:04:05+00:00", "x"}) {
    EXPECT_FALSE(ParseExpires(bad)) << bad;
  }
}

TEST(Updater, UnknownTargetIsNotFound) {
  Env env;
  auto bytes = env.Download("nope");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kTargetNotFound));
}

}  // namespace
}  // namespace ferry::trust::testing
