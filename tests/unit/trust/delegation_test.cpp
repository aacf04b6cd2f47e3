// Delegated targets: pre-order depth-first search, terminating delegations, path patterns, cycles,
// the visit limit, and odd role names in URLs and file names.
#include <gtest/gtest.h>

#include <filesystem>

#include "trust_env.hpp"

namespace ferry::trust::testing {
namespace {

std::vector<std::string> MetadataRequests(const RepoHttp& http) {
  std::vector<std::string> out;
  for (const auto& [url, max] : http.requests) {
    const std::string prefix = "http://repo/metadata/";
    if (url.starts_with(prefix)) {
      out.push_back(url.substr(prefix.size()));
    }
  }
  return out;
}

TEST(Delegation, FindsTargetInDelegatedRole) {
  Env env;
  env.repo.Delegate("targets", {.name = "apps", .paths = {"apps/*"}});
  env.repo.targets["apps"].targets["apps/demo"] = "demo v1";
  env.repo.BumpAndPublish();
  auto bytes = env.Download("apps/demo");
  ASSERT_TRUE(bytes) << bytes.error().String();
  EXPECT_EQ(*bytes, "demo v1");
  EXPECT_EQ(env.Trusted("apps"), 2u);
}

TEST(Delegation, SearchIsPreOrderDepthFirst) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.Delegate("targets", {.name = "b", .paths = {"*"}});
  env.repo.Delegate("a", {.name = "a1", .paths = {"*"}});
  env.repo.targets["b"].targets["f"] = "from b";
  env.repo.targets["a1"].targets["f"] = "from a1";
  env.repo.BumpAndPublish();
  env.http.requests.clear();
  auto bytes = env.Download("f");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, "from a1");
  const auto requests = MetadataRequests(env.http);
  const std::vector<std::string> expected = {"2.root.json",    "timestamp.json", "2.snapshot.json",
                                             "2.targets.json", "2.a.json",       "2.a1.json"};
  EXPECT_EQ(requests, expected);
}

// One role delegated by two parents, signed only by the key one of them trusts: loaded (and kept)
// for a path of the first, it must not be trusted for a path of the second.
TEST(Delegation, RoleAlreadyLoadedIsVerifiedAgainstTheDelegatorOfThisPath) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"a/*"}});
  env.repo.Delegate("targets", {.name = "b", .paths = {"b/*"}});
  env.repo.Delegate("a", {.name = "shared", .paths = {"a/*"}});
  env.repo.Delegate("b", {.name = "shared", .paths = {"b/*"}});
  env.repo.signers["shared"].pop_back();  // b's key never signs it
  env.repo.targets["shared"].targets["a/x"] = "via a";
  env.repo.targets["shared"].targets["b/x"] = "not b's to give";
  env.repo.BumpAndPublish();

  auto updater = env.NewUpdater();
  auto via_a = updater->GetTargetInfo("a/x");
  ASSERT_TRUE(via_a) << via_a.error().String();
  auto via_b = updater->GetTargetInfo("b/x");
  ASSERT_FALSE(via_b) << "trusted through b, whose keys never signed it";
  EXPECT_TRUE(via_b.error().Is(TrustErrc::kBadSignature)) << via_b.error().String();
  // The same lookup in the other order, from a fresh start, is refused the same way.
  auto fresh = env.NewUpdater()->GetTargetInfo("b/x");
  ASSERT_FALSE(fresh);
  EXPECT_TRUE(fresh.error().Is(TrustErrc::kBadSignature)) << fresh.error().String();
}

TEST(Delegation, TerminatingDelegationStopsSearch) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .terminating = true, .paths = {"*"}});
  env.repo.Delegate("targets", {.name = "b", .paths = {"*"}});
  env.repo.targets["b"].targets["f"] = "from b";
  env.repo.BumpAndPublish();
  auto bytes = env.Download("f");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kTargetNotFound)) << bytes.error().String();
  EXPECT_FALSE(env.http.Requested("metadata/2.b.json"));
}

TEST(Delegation, TerminatingChildAlsoDropsPendingSiblingsOfItsParent) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.Delegate("targets", {.name = "b", .paths = {"*"}});
  env.repo.Delegate("a", {.name = "a1", .terminating = true, .paths = {"*"}});
  env.repo.targets["b"].targets["f"] = "from b";
  env.repo.BumpAndPublish();
  auto bytes = env.Download("f");
  ASSERT_FALSE(bytes);
  EXPECT_FALSE(env.http.Requested("metadata/2.b.json"));
}

TEST(Delegation, NonMatchingPathIsNotSearched) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"files/*"}});
  env.repo.targets["a"].targets["files/x/y"] = "deep";
  env.repo.targets["a"].targets["files/x"] = "shallow";
  env.repo.BumpAndPublish();
  // `*` does not cross `/`.
  auto deep = env.Download("files/x/y");
  ASSERT_FALSE(deep);
  EXPECT_TRUE(deep.error().Is(TrustErrc::kTargetNotFound));
  EXPECT_FALSE(env.http.Requested("metadata/2.a.json"));
  auto shallow = env.Download("files/x");
  ASSERT_TRUE(shallow);
  EXPECT_EQ(*shallow, "shallow");
}

TEST(Delegation, PathPatterns) {
  DelegatedRole role;
  role.paths = std::vector<std::string>{"apps/*.json", "bin/ferry-?", "lib/[a-c]*/x"};
  EXPECT_TRUE(role.IsDelegatedPath("apps/demo.json"));
  EXPECT_FALSE(role.IsDelegatedPath("apps/sub/demo.json"));
  EXPECT_FALSE(role.IsDelegatedPath("apps/demo.jsonx"));
  EXPECT_TRUE(role.IsDelegatedPath("bin/ferry-1"));
  EXPECT_FALSE(role.IsDelegatedPath("bin/ferry-12"));
  EXPECT_TRUE(role.IsDelegatedPath("lib/beta/x"));
  EXPECT_FALSE(role.IsDelegatedPath("lib/delta/x"));
  DelegatedRole prefixes;
  prefixes.path_hash_prefixes = std::vector<std::string>{Sha256Hex("a/b").substr(0, 2)};
  EXPECT_TRUE(prefixes.IsDelegatedPath("a/b"));
}

TEST(Delegation, CyclesEndTheSearch) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.Delegate("a", {.name = "b", .paths = {"*"}});
  // b delegates back to a with a's key.
  auto& b = env.repo.targets["b"];
  b.has_delegations = true;
  const SigningKey a_key = env.repo.signers["a"][0];
  b.delegation_keys[a_key.KeyId()] = a_key.PublicKeyJson();
  b.delegations.push_back({.name = "a", .keyids = {a_key.KeyId()}, .paths = {"*"}});
  env.repo.BumpAndPublish();
  auto bytes = env.Download("missing");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kTargetNotFound)) << bytes.error().String();
}

TEST(Delegation, VisitLimitStopsSearch) {
  Env env;
  std::string parent = "targets";
  for (int i = 0; i < 5; ++i) {
    const std::string name = "r" + std::to_string(i);
    env.repo.Delegate(parent, {.name = name, .paths = {"*"}});
    parent = name;
  }
  env.repo.targets["r4"].targets["f"] = "deep";
  env.repo.BumpAndPublish();
  auto config = env.Config();
  config.max_delegations = 3;
  Updater updater(env.store, env.http, env.clock, config);
  auto info = updater.GetTargetInfo("f");
  ASSERT_FALSE(info);
  EXPECT_TRUE(info.error().Is(TrustErrc::kLimitExceeded)) << info.error().String();
  auto found = env.Download("f");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, "deep");
}

TEST(Delegation, RoleMissingFromSnapshotFails) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.mutate["snapshot"] = [](Json& s) {
    Json::Object meta;
    meta.emplace_back("targets.json", *s.Find("meta")->Find("targets.json"));
    s.Set("meta", Json(std::move(meta)));
  };
  env.repo.BumpAndPublish();
  auto bytes = env.Download("f");
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.error().message().find("not listed in snapshot"), std::string::npos)
      << bytes.error().String();
}

TEST(Delegation, DelegatedRoleSignedByWrongKeyFails) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.signers["a"] = {env.repo.signers["snapshot"][0]};
  env.repo.BumpAndPublish();
  auto bytes = env.Download("f");
  ASSERT_FALSE(bytes);
  EXPECT_TRUE(bytes.error().Is(TrustErrc::kBadSignature));
}

TEST(Delegation, DelegatedRoleMustMatchSnapshotHash) {
  Env env;
  env.repo.targets_meta_hashes = true;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.targets["a"].targets["f"] = "x";
  env.repo.BumpAndPublish();
  std::string& bytes = env.repo.files["metadata/2.a.json"];
  bytes.back() = ' ';  // same length, other bytes
  auto got = env.Download("f");
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().Is(TrustErrc::kHashMismatch)) << got.error().String();
}

TEST(Delegation, DelegatedRoleRollbackIsRejected) {
  Env env;
  env.repo.Delegate("targets", {.name = "a", .paths = {"*"}});
  env.repo.targets["a"].version = 7;
  env.repo.targets["a"].targets["f"] = "x";
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Download("f"));
  EXPECT_EQ(env.Trusted("a"), 8u);
  env.repo.targets["a"].version = 3;
  env.repo.snapshot_version += 1;
  env.repo.timestamp_version += 1;
  env.repo.Publish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
}

TEST(Delegation, SuccinctHashBinsPickTheBinOfThePath) {
  Env env;
  // 256 bins: the bin of a path is the first byte of its sha256.
  const std::string bin = "bins-" + Sha256Hex("apps/demo").substr(0, 2);
  const SigningKey bin_key = env.repo.NewKey();
  env.repo.mutate["targets"] = [&](Json& s) {
    Json::Object keys;
    keys.emplace_back(bin_key.KeyId(), bin_key.PublicKeyJson());
    Json::Object succinct;
    Json::Array keyids;
    keyids.push_back(Json(bin_key.KeyId()));
    succinct.emplace_back("keyids", Json(std::move(keyids)));
    succinct.emplace_back("threshold", Json(std::int64_t{1}));
    succinct.emplace_back("bit_length", Json(std::int64_t{8}));
    succinct.emplace_back("name_prefix", Json(std::string("bins")));
    Json::Object delegations;
    delegations.emplace_back("keys", Json(std::move(keys)));
    delegations.emplace_back("succinct_roles", Json(std::move(succinct)));
    s.Set("delegations", Json(std::move(delegations)));
  };
  env.repo.targets[bin].targets["apps/demo"] = "binned";
  env.repo.targets[bin].expires = env.repo.targets["targets"].expires;
  env.repo.signers[bin] = {bin_key};
  env.repo.BumpAndPublish();
  auto bytes = env.Download("apps/demo");
  ASSERT_TRUE(bytes) << bytes.error().String();
  EXPECT_EQ(*bytes, "binned");
  EXPECT_TRUE(env.http.Requested("metadata/2." + bin + ".json"));
}

TEST(Delegation, SuccinctRoleNames) {
  SuccinctRoles bins;
  bins.name_prefix = "p";
  bins.bit_length = 1;
  EXPECT_EQ(bins.RoleFor("x").size(), 3u);  // "p-0" or "p-1"
  bins.bit_length = 12;
  EXPECT_EQ(bins.RoleFor("x"), "p-" + Sha256Hex("x").substr(0, 3));
  bins.bit_length = 32;
  EXPECT_EQ(bins.RoleFor("x"), "p-" + Sha256Hex("x").substr(0, 8));
  bins.bit_length = 5;  // 32 bins: two hex digits, values 00 to 1f
  const std::string name = bins.RoleFor("x");
  ASSERT_EQ(name.size(), 4u);
  EXPECT_LE(std::stoul(name.substr(2), nullptr, 16), 31u);
}

class OddRoleName : public ::testing::TestWithParam<std::string> {};

TEST_P(OddRoleName, IsQuotedInUrlAndFileName) {
  Env env;
  const std::string role = GetParam();
  env.repo.Delegate("targets", {.name = role, .paths = {"*"}});
  env.repo.targets[role].targets["f"] = "odd";
  env.repo.BumpAndPublish();
  auto bytes = env.Download("f");
  ASSERT_TRUE(bytes) << bytes.error().String();
  EXPECT_TRUE(env.http.Requested("metadata/2." + QuoteComponent(role) + ".json"));
  const auto file = env.store.PathOf(role);
  EXPECT_EQ(file.parent_path(), env.dir / "metadata");
  EXPECT_TRUE(std::filesystem::exists(file));
  // Nothing was written outside the metadata directory.
  for (const auto& entry : std::filesystem::directory_iterator(env.dir.path())) {
    EXPECT_EQ(entry.path().filename(), "metadata");
  }
}

INSTANTIATE_TEST_SUITE_P(Trust, OddRoleName, ::testing::Values("../x", "?", "#", "/abs", "a b%2F"),
                         [](const auto& param) { return "Case" + std::to_string(param.index); });

TEST(Quote, EncodesEverythingButUnreserved) {
  EXPECT_EQ(QuoteComponent("../x"), "..%2Fx");
  EXPECT_EQ(QuoteComponent("?"), "%3F");
  EXPECT_EQ(QuoteComponent("#"), "%23");
  EXPECT_EQ(QuoteComponent("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(QuoteComponent("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(QuoteTargetPath("a/../b c/./d"), "a/%2E%2E/b%20c/%2E/d");
  EXPECT_EQ(QuoteTargetPath("/x/"), "/x/");
}

}  // namespace
}  // namespace ferry::trust::testing
