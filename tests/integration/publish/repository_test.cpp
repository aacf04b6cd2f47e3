// Keys, verification of a tampered repository, bundles, rotation, revocation, timestamp and gc.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ferry/trust/json.hpp"
#include "ferry/trust/metadata.hpp"
#include "ferry/trust/signer.hpp"
#include "publish_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish::testing {
namespace {

namespace stdfs = std::filesystem;
using ferry::testing::TempDir;

// Re-signs the signed part of a metadata file with `key` alone.
void ResignWith(const stdfs::path& file, const trust::SigningKey& key) {
  auto doc = trust::ParseJson(ReadFile(file));
  ASSERT_TRUE(doc.has_value());
  const trust::Json& signed_json = *doc->Find("signed");
  auto sig = key.Sign(trust::Canonicalize(signed_json));
  ASSERT_TRUE(sig.has_value());
  trust::Json::Object s;
  s.emplace_back("keyid", trust::Json(key.KeyId()));
  s.emplace_back("sig", trust::Json(*sig));
  trust::Json::Object out;
  out.emplace_back("signatures", trust::Json(trust::Json::Array{trust::Json(std::move(s))}));
  out.emplace_back("signed", signed_json);
  WriteFile(file, trust::Serialize(trust::Json(std::move(out))));
}

std::uint64_t VersionOf(const stdfs::path& file, const char* type) {
  auto md = trust::ParseMetadata(ReadFile(file), type);
  EXPECT_TRUE(md.has_value());
  return md ? md->version : 0;
}

class RepositoryTest : public PublishTest {
 protected:
  ferry::testing::RunResult Verify() { return Publish({"verify", "--repo", repo().string()}); }
};

TEST(Keygen, WritesEachKeyTypeWithPrivateMode) {
  TempDir tmp;
  for (const std::string type : {"ecdsa", "ed25519", "rsa"}) {
    const auto path = tmp / (type + ".pem");
    auto r = Publish({"keygen", "--type", type, "--out", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << type;
    auto key = trust::SigningKey::FromPrivatePem(ReadFile(path));
    ASSERT_TRUE(key.has_value()) << type;
    auto pub = trust::ParseJson(ReadFile(path.string() + ".pub"));
    ASSERT_TRUE(pub.has_value()) << type;
    EXPECT_EQ(trust::KeyIdOf(*pub), key->KeyId()) << type;
    EXPECT_EQ(r.out, key->KeyId() + "\n");
    EXPECT_EQ(pub->Find("keytype")->AsString(), key->PublicKeyJson().Find("keytype")->AsString());
  }
  auto again = Publish({"keygen", "--type", "ed25519", "--out", (tmp / "ed25519.pem").string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("not replacing"), std::string::npos) << again.err;
  auto bad = Publish({"keygen", "--type", "dsa", "--out", (tmp / "dsa.pem").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown key type 'dsa'"), std::string::npos) << bad.err;
}

TEST_F(RepositoryTest, VerifyCatchesAChangedBlob) {
  Release("1.0.0", 1);
  const auto m = LoadManifest(repo(), "web", "1.0.0");
  const auto blob = BlobFile(repo(), m.layers[0].blob.digest);
  std::string bytes = ReadFile(blob);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFile(blob, bytes);
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("web/1.0.0.json layer 0 blob " + m.layers[0].blob.digest), std::string::npos)
      << r.err;

  stdfs::remove(blob);
  auto missing = Verify();
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("missing"), std::string::npos) << missing.err;
}

TEST_F(RepositoryTest, VerifyCatchesAChangedManifest) {
  Release("1.0.0", 1);
  const auto file = ManifestFile(repo(), "web", "1.0.0");
  std::string bytes = ReadFile(file);
  bytes.replace(bytes.find("/bin/app"), 8, "/bin/evl");
  WriteFile(file, bytes);
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("web/1.0.0.json"), std::string::npos) << r.err;
}

TEST_F(RepositoryTest, VerifyCatchesMetadataSignedWithTheWrongKey) {
  Release("1.0.0", 1);
  auto stranger = trust::SigningKey::Generate(trust::KeyType::kEd25519);
  ASSERT_TRUE(stranger.has_value());
  ResignWith(repo() / "metadata" / "timestamp.json", *stranger);
  auto r = Verify();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("timestamp"), std::string::npos) << r.err;
}

TEST_F(RepositoryTest, BundleHoldsTheChainAndWhatTheDeviceLacks) {
  Release("1.0.0", 1);
  Release("2.0.0", 2);
  const auto v2 = LoadManifest(repo(), "web", "2.0.0");
  ASSERT_EQ(v2.layers[0].deltas.size(), 1u);
  const std::string target =
      "targets/web/" + ManifestFile(repo(), "web", "2.0.0").filename().string();
  const std::string full = "blobs/sha256/" + v2.layers[0].blob.digest.substr(7);
  const std::string delta = "blobs/sha256/" + v2.layers[0].deltas[0].blob.digest.substr(7);

  const auto bundle = tmp_ / "full.tar";
  auto r = Publish({"bundle", "--repo", repo().string(), "--app", "web", "--version", "2.0.0",
                    "--out", bundle.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(TarMembers(bundle),
            (std::vector<std::string>{"bundle.json", "metadata/1.root.json",
                                      "metadata/timestamp.json", "metadata/3.snapshot.json",
                                      "metadata/3.targets.json", target, full}));

  const auto small = tmp_ / "delta.tar";
  r = Publish({"bundle", "--repo", repo().string(), "--app", "web", "--version", "2.0.0",
               "--base-version", "1.0.0", "--out", small.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(TarMembers(small),
            (std::vector<std::string>{"bundle.json", "metadata/1.root.json",
                                      "metadata/timestamp.json", "metadata/3.snapshot.json",
                                      "metadata/3.targets.json", target, delta}));
  EXPECT_LT(stdfs::file_size(small), stdfs::file_size(bundle) / 4);

  // The same release bundled twice is the same bytes.
  const auto again = tmp_ / "again.tar";
  ASSERT_EQ(Publish({"bundle", "--repo", repo().string(), "--app", "web", "--version", "2.0.0",
                     "--base-version", "1.0.0", "--out", again.string()})
                .exit_code,
            0);
  EXPECT_EQ(ReadFile(small), ReadFile(again));

  auto unknown = Publish({"bundle", "--repo", repo().string(), "--app", "web", "--version", "9.9.9",
                          "--out", (tmp_ / "x.tar").string()});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("web 9.9.9 is not in the repository"), std::string::npos)
      << unknown.err;
}

TEST_F(RepositoryTest, BundleWarnsWhenItPacksExpiredMetadata) {
  Release("1.0.0", 1);
  const auto bundle = (tmp_ / "b.tar").string();
  auto fresh = Publish(
      {"bundle", "--repo", repo().string(), "--app", "web", "--version", "1.0.0", "--out", bundle});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(fresh.err.find("warning"), std::string::npos) << fresh.err;

  const auto timestamp = repo() / "metadata" / "timestamp.json";
  auto doc = nlohmann::json::parse(ReadFile(timestamp));
  doc["signed"]["expires"] = "2001-01-01T00:00:00Z";
  WriteFile(timestamp, doc.dump());
  auto stale = Publish(
      {"bundle", "--repo", repo().string(), "--app", "web", "--version", "1.0.0", "--out", bundle});
  EXPECT_NE(stale.err.find("warning: metadata/timestamp.json expired at 2001-01-01T00:00:00Z"),
            std::string::npos)
      << stale.err;
  EXPECT_NE(stale.err.find("ferry-publish timestamp"), std::string::npos) << stale.err;
}

TEST_F(RepositoryTest, RotatedTimestampKeyNoLongerVerifies) {
  Release("1.0.0", 1);
  auto old_key = trust::SigningKey::FromPrivatePem(ReadFile(keys() / "timestamp-1.pem"));
  ASSERT_TRUE(old_key.has_value());
  auto r = Publish(
      {"rotate", "--repo", repo().string(), "--keys", keys().string(), "--role", "timestamp"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(stdfs::exists(repo() / "metadata" / "2.root.json"));
  EXPECT_EQ(ReadFile(repo() / "metadata" / "root.json"),
            ReadFile(repo() / "metadata" / "2.root.json"));
  EXPECT_FALSE(stdfs::exists(keys() / "timestamp-1.pem"));
  EXPECT_TRUE(stdfs::exists(keys() / "retired" / "timestamp-1.pem"));
  auto ok = Verify();
  EXPECT_EQ(ok.exit_code, 0) << ok.err;

  ResignWith(repo() / "metadata" / "timestamp.json", *old_key);
  auto bad = Verify();
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("timestamp"), std::string::npos) << bad.err;
}

TEST_F(RepositoryTest, RootRotationIsSignedByOldAndNewKeys) {
  Release("1.0.0", 1);
  const auto new_key = tmp_ / "new-root.pem";
  ASSERT_EQ(Publish({"keygen", "--type", "ecdsa", "--out", new_key.string()}).exit_code, 0);
  auto r = Publish({"rotate", "--repo", repo().string(), "--keys", keys().string(), "--role",
                    "root", "--new-key", new_key.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto root2 = trust::ParseMetadata(ReadFile(repo() / "metadata" / "2.root.json"), "root");
  ASSERT_TRUE(root2.has_value());
  EXPECT_EQ(root2->signatures.size(), 2u);
  auto v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
  // Releases keep working after the rotation.
  Release("1.1.0", 2);
  EXPECT_EQ(Verify().exit_code, 0);

  auto bad_role =
      Publish({"rotate", "--repo", repo().string(), "--keys", keys().string(), "--role", "mirror"});
  EXPECT_EQ(bad_role.exit_code, 2);
}

TEST(Revoke, RemovesAKeyWhileTheThresholdHolds) {
  TempDir tmp;
  const auto repo = tmp / "repo";
  const auto keys = tmp / "keys";
  ASSERT_EQ(Publish({"init", "--repo", repo.string(), "--keys", keys.string(), "--threshold", "1",
                     "--keys-per-role", "2"})
                .exit_code,
            0);
  auto root = trust::ParseMetadata(ReadFile(repo / "metadata" / "1.root.json"), "root");
  ASSERT_TRUE(root.has_value());
  const auto ids = root->roles.at("targets").keyids;
  ASSERT_EQ(ids.size(), 2u);

  auto r = Publish({"revoke", "--repo", repo.string(), "--keys", keys.string(), "--role", "targets",
                    "--keyid", ids[1]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto root2 = trust::ParseMetadata(ReadFile(repo / "metadata" / "2.root.json"), "root");
  ASSERT_TRUE(root2.has_value());
  EXPECT_EQ(root2->roles.at("targets").keyids, std::vector<std::string>{ids[0]});
  EXPECT_FALSE(root2->keys.contains(ids[1]));
  EXPECT_EQ(Publish({"verify", "--repo", repo.string()}).exit_code, 0);

  auto last = Publish({"revoke", "--repo", repo.string(), "--keys", keys.string(), "--role",
                       "targets", "--keyid", ids[0]});
  EXPECT_EQ(last.exit_code, 1);
  EXPECT_NE(last.err.find("threshold"), std::string::npos) << last.err;
  auto unknown = Publish({"revoke", "--repo", repo.string(), "--keys", keys.string(), "--role",
                          "targets", "--keyid", ids[1]});
  EXPECT_EQ(unknown.exit_code, 1);
}

TEST_F(RepositoryTest, TimestampBumpsOnlyTheTimestamp) {
  Release("1.0.0", 1);
  const auto ts = repo() / "metadata" / "timestamp.json";
  const auto before = VersionOf(ts, "timestamp");
  auto r = Publish(
      {"timestamp", "--repo", repo().string(), "--keys", keys().string(), "--expires-days", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(VersionOf(ts, "timestamp"), before + 1);
  EXPECT_FALSE(stdfs::exists(repo() / "metadata" / "3.snapshot.json"));
  EXPECT_EQ(Verify().exit_code, 0);

  // --all re-signs targets and snapshot too (a repository with no release for a long time).
  r = Publish({"timestamp", "--repo", repo().string(), "--keys", keys().string(), "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(VersionOf(ts, "timestamp"), before + 2);
  EXPECT_TRUE(stdfs::exists(repo() / "metadata" / "3.snapshot.json"));
  EXPECT_TRUE(stdfs::exists(repo() / "metadata" / "3.targets.json"));
  EXPECT_EQ(Verify().exit_code, 0);
}

TEST_F(RepositoryTest, GcRemovesOnlyUnreferencedBlobs) {
  Release("1.0.0", 1);
  Release("1.1.0", 2);
  const auto orphan = repo() / "blobs" / "sha256" / std::string(64, 'a');
  WriteFile(orphan, "left over");
  const auto count = [&] {
    return std::distance(stdfs::directory_iterator(repo() / "blobs" / "sha256"),
                         stdfs::directory_iterator());
  };
  const auto before = count();
  auto dry = Publish({"gc", "--repo", repo().string(), "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(count(), before);
  auto r = Publish({"gc", "--repo", repo().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("removed 1 unused blob(s)"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(orphan));
  EXPECT_EQ(count(), before - 1);
  EXPECT_EQ(Verify().exit_code, 0);
}

}  // namespace
}  // namespace ferry::publish::testing
