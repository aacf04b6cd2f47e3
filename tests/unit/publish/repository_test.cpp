#include "server-mock/ferry-publish/repository.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "server-mock/ferry-publish/keys.hpp"
#include "server-mock/ferry-publish/pending_blobs.hpp"
#include "server-mock/ferry-publish/repo_lock.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish {
namespace {

std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TargetFilePath, IsWhereTheTufClientLooks) {
  auto v = manifest::ParseSemVer("1.0.0+build.5");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(ManifestTargetName("web", *v), "web/1.0.0+build.5.json");
  EXPECT_EQ(TargetFilePath("web/1.0.0+build.5.json", "ab12"), "web/ab12.1.0.0%2Bbuild.5.json");
  EXPECT_EQ(TargetFilePath("top.json", "ab12"), "ab12.top.json");
}

TEST(ParseKeyType, NamesTheChoices) {
  EXPECT_EQ(*ParseKeyType("ecdsa"), trust::KeyType::kEcdsaP256);
  EXPECT_EQ(*ParseKeyType("ed25519"), trust::KeyType::kEd25519);
  EXPECT_EQ(*ParseKeyType("rsa"), trust::KeyType::kRsaPss);
  auto bad = ParseKeyType("RSA");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("ecdsa, ed25519 or rsa"), std::string::npos);
}

TEST(Repository, InitOpenAndReleasesByVersion) {
  ferry::testing::TempDir tmp;
  ASSERT_TRUE(Repository::Init(tmp / "repo", tmp / "keys", {}).has_value());
  auto repo = Repository::Open(tmp / "repo", tmp / "keys", Repository::Access::kWrite);
  ASSERT_TRUE(repo.has_value()) << repo.error().String();
  EXPECT_EQ(repo->root_version(), 1u);
  EXPECT_EQ(repo->targets_version(), 1u);
  EXPECT_EQ(repo->keys().size(), 4u);
  for (const char* v : {"1.10.0", "1.2.0", "1.2.0-rc.1"}) {
    const std::string name = ManifestTargetName("web", *manifest::ParseSemVer(v));
    ASSERT_TRUE(repo->AddTarget(name, std::string("m") + v, trust::Json()).has_value());
  }
  ASSERT_TRUE(repo->AddTarget("other/1.0.0.json", "x", trust::Json()).has_value());
  ASSERT_TRUE(repo->Commit(true).has_value());
  std::vector<std::string> order;
  for (const auto& r : repo->Releases("web")) {
    order.push_back(r.version.String());
    EXPECT_TRUE(std::filesystem::exists(r.file)) << r.file;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"1.2.0-rc.1", "1.2.0", "1.10.0"}));
  EXPECT_EQ(repo->Releases("").size(), 4u);
}

TEST(Repository, OpenRefusesWhatIsNotARepository) {
  ferry::testing::TempDir tmp;
  auto r = Repository::Open(tmp.path(), "", Repository::Access::kRead);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().Is(Errc::kFailedPrecondition));
  EXPECT_NE(r.error().message().find("not a Ferry repository"), std::string::npos);
}

TEST(Repository, SigningWithoutEnoughKeysNamesTheRole) {
  ferry::testing::TempDir tmp;
  InitOptions options;
  options.threshold = 2;
  ASSERT_TRUE(Repository::Init(tmp / "repo", tmp / "keys", options).has_value());
  std::filesystem::remove(tmp / "keys" / "snapshot-2.pem");
  auto repo = Repository::Open(tmp / "repo", tmp / "keys", Repository::Access::kWrite);
  ASSERT_TRUE(repo.has_value());
  auto st = repo->Commit(true);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("1 of the keys of role snapshot (2 needed"),
            std::string::npos)
      << st.error().message();
  EXPECT_FALSE(Repository::Init(tmp / "repo", tmp / "keys", {}).has_value()) << "exists";
}

TEST(Repository, AReaderHoldsNoLockOnceTheMetadataIsLoaded) {
  ferry::testing::TempDir tmp;
  ASSERT_TRUE(Repository::Init(tmp / "repo", tmp / "keys", {}).has_value());
  auto reader = Repository::Open(tmp / "repo", "", Repository::Access::kRead);
  ASSERT_TRUE(reader.has_value()) << reader.error().String();
  const std::string loaded = reader->timestamp_bytes();
  {
    auto writer = Repository::Open(tmp / "repo", tmp / "keys", Repository::Access::kWrite);
    ASSERT_TRUE(writer.has_value()) << writer.error().String();
    ASSERT_TRUE(writer->Commit(false).has_value());
    EXPECT_EQ(writer->timestamp_bytes(),
              ReadFileText(tmp / "repo" / "metadata" / "timestamp.json"));
  }
  // The reader keeps the snapshot it loaded, though the file was replaced since.
  EXPECT_EQ(reader->timestamp_bytes(), loaded);
  EXPECT_NE(ReadFileText(tmp / "repo" / "metadata" / "timestamp.json"), loaded);
}

TEST(Repository, AWriterExcludesOthersUntilItIsGone) {
  ferry::testing::TempDir tmp;
  ASSERT_TRUE(Repository::Init(tmp / "repo", tmp / "keys", {}).has_value());
  {
    auto writer = Repository::Open(tmp / "repo", tmp / "keys", Repository::Access::kWrite);
    ASSERT_TRUE(writer.has_value()) << writer.error().String();
    for (LockMode mode : {LockMode::kShared, LockMode::kExclusive}) {
      auto other = LockRepository(tmp / "repo", mode, std::chrono::milliseconds(50));
      ASSERT_FALSE(other.has_value());
      EXPECT_TRUE(other.error().Is(Errc::kUnavailable));
      EXPECT_NE(other.error().message().find("another ferry-publish is working on"),
                std::string::npos)
          << other.error().message();
    }
  }
  EXPECT_TRUE(
      LockRepository(tmp / "repo", LockMode::kExclusive, std::chrono::milliseconds(0)).has_value());
}

TEST(PendingBlobs, ProtectsTheBlobsOfALiveReleaseOnly) {
  ferry::testing::TempDir tmp;
  ASSERT_TRUE(Repository::Init(tmp / "repo", tmp / "keys", {}).has_value());
  const std::string a(64, 'a'), b(64, 'b');
  {
    PendingBlobs pending(tmp / "repo");
    ASSERT_TRUE(pending.Add(a).has_value());
    ASSERT_TRUE(pending.Add(b).has_value());
    auto live = BlobsOfReleasesInProgress(tmp / "repo", false);
    ASSERT_TRUE(live.has_value()) << live.error().String();
    EXPECT_EQ(*live, (std::set<std::string>{a, b}));
  }
  auto after = BlobsOfReleasesInProgress(tmp / "repo", false);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->empty());

  // The file of a release that died: nobody holds it, so its blobs are orphans.
  const auto dead = tmp / "repo" / ".ferry-publish.pending" / "4242.0";
  {
    std::ofstream out(dead);
    out << a << "\n";
  }
  auto dry = BlobsOfReleasesInProgress(tmp / "repo", true);
  ASSERT_TRUE(dry.has_value());
  EXPECT_TRUE(dry->empty());
  EXPECT_TRUE(std::filesystem::exists(dead));
  auto cleaned = BlobsOfReleasesInProgress(tmp / "repo", false);
  ASSERT_TRUE(cleaned.has_value());
  EXPECT_TRUE(cleaned->empty());
  EXPECT_FALSE(std::filesystem::exists(dead));
}

}  // namespace
}  // namespace ferry::publish
