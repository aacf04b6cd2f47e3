// Root rotation chains and fast-forward recovery (TUF specification §5.3).
#include <gtest/gtest.h>

#include "trust_env.hpp"

namespace ferry::trust::testing {
namespace {

// Rotates root to `keys` with `threshold`: the new root is signed by the old root's signers and
// by the new ones.
void RotateRoot(TestRepository& repo, const std::vector<SigningKey>& keys,
                std::uint64_t threshold) {
  repo.extra_root_signers = repo.signers["root"];
  repo.ClearRootKeys("root");
  for (const auto& k : keys) {
    repo.AddRootKey("root", k);
  }
  repo.root_roles["root"].threshold = threshold;
  ++repo.root_version;
  repo.PublishRoot();
  repo.extra_root_signers.clear();
}

class Rotation : public ::testing::TestWithParam<KeyType> {};

TEST_P(Rotation, FollowsChainWithThresholdUpAndDownAndKeysRemoved) {
  Env env(GetParam());
  const SigningKey a = env.repo.signers["root"][0];
  const SigningKey b = env.repo.NewKey();
  const SigningKey c = env.repo.NewKey();
  RotateRoot(env.repo, {a, b}, 2);  // v2: threshold up
  RotateRoot(env.repo, {b, c}, 2);  // v3: a removed
  RotateRoot(env.repo, {c}, 1);     // v4: threshold down, b removed
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("root"), 4u);
  EXPECT_EQ(**env.store.Load("root"), env.repo.files.at("metadata/4.root.json"));
}

INSTANTIATE_TEST_SUITE_P(Trust, Rotation,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256,
                                           KeyType::kRsaPss));

TEST(RootRotation, NewRootMustBeSignedByOldRootThreshold) {
  Env env;
  const SigningKey b = env.repo.NewKey();
  env.repo.ClearRootKeys("root");
  env.repo.AddRootKey("root", b);
  env.repo.root_version = 2;
  env.repo.PublishRoot();  // signed by b alone: the old root never vouched for it
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
  EXPECT_EQ(env.Trusted("root"), 1u);
}

TEST(RootRotation, NewRootMustMeetItsOwnThreshold) {
  Env env;
  const SigningKey a = env.repo.signers["root"][0];
  const SigningKey b = env.repo.NewKey();
  env.repo.ClearRootKeys("root");
  env.repo.AddRootKey("root", a);
  env.repo.root_roles["root"].keyids.push_back(b.KeyId());
  env.repo.root_keys[b.KeyId()] = b.PublicKeyJson();
  env.repo.root_roles["root"].threshold = 2;  // lists b, but b does not sign
  env.repo.root_version = 2;
  env.repo.PublishRoot();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
  EXPECT_EQ(env.Trusted("root"), 1u);
}

TEST(RootRotation, RejectsRootWithUnexpectedVersion) {
  Env env;
  env.repo.root_version = 3;
  env.repo.PublishRoot();
  env.repo.files["metadata/2.root.json"] = env.repo.files["metadata/3.root.json"];
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
}

TEST(RootRotation, RemovedKeyCannotSignLaterRoots) {
  Env env;
  const SigningKey a = env.repo.signers["root"][0];
  const SigningKey b = env.repo.NewKey();
  RotateRoot(env.repo, {b}, 1);
  ASSERT_TRUE(env.Refresh());
  // v3 signed by the revoked key a alone.
  env.repo.ClearRootKeys("root");
  env.repo.AddRootKey("root", a);
  env.repo.root_version = 3;
  env.repo.PublishRoot();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kBadSignature));
  EXPECT_EQ(env.Trusted("root"), 2u);
}

TEST(RootRotation, StopsAtRotationBoundPerRefresh) {
  Env env;
  for (int i = 0; i < 5; ++i) {
    RotateRoot(env.repo, {env.repo.signers["root"][0]}, 1);
  }
  auto config = env.Config();
  config.max_root_rotations = 2;
  Updater updater(env.store, env.http, env.clock, config);
  ASSERT_TRUE(updater.Refresh());
  EXPECT_EQ(env.Trusted("root"), 3u);
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("root"), 6u);
}

TEST(RootRotation, IntermediateRootMayBeExpiredButFinalMayNot) {
  Env env;
  env.repo.root_expires = kStart - std::chrono::hours(1);
  RotateRoot(env.repo, {env.repo.signers["root"][0]}, 1);
  env.repo.root_expires = kStart + std::chrono::hours(100);
  RotateRoot(env.repo, {env.repo.signers["root"][0]}, 1);
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("root"), 3u);
}

TEST(FastForward, RotatedTimestampKeysResetTimestampFloor) {
  Env env;
  // An attacker with the old timestamp key pushed timestamp to a huge version.
  env.repo.timestamp_version = 1000;
  env.repo.Publish();
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("timestamp"), 1000u);
  // The operator rotates the timestamp key and restarts from version 1.
  env.repo.ClearRootKeys("timestamp");
  env.repo.AddRootKey("timestamp", env.repo.NewKey());
  RotateRoot(env.repo, {env.repo.signers["root"][0]}, 1);
  env.repo.timestamp_version = 1;
  env.repo.snapshot_version = 2;
  env.repo.Publish();
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("timestamp"), 1u);
  EXPECT_EQ(env.Trusted("snapshot"), 2u);
}

TEST(FastForward, RotatedSnapshotKeysResetSnapshotFloor) {
  Env env;
  env.repo.snapshot_version = 500;
  env.repo.BumpAndPublish();
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("snapshot"), 501u);
  env.repo.ClearRootKeys("snapshot");
  env.repo.AddRootKey("snapshot", env.repo.NewKey());
  RotateRoot(env.repo, {env.repo.signers["root"][0]}, 1);
  env.repo.snapshot_version = 1;
  env.repo.timestamp_version = 10;
  env.repo.Publish();
  ASSERT_TRUE(env.Refresh());
  EXPECT_EQ(env.Trusted("snapshot"), 1u);
}

TEST(FastForward, WithoutRotationTheFloorHolds) {
  Env env;
  env.repo.timestamp_version = 1000;
  env.repo.Publish();
  ASSERT_TRUE(env.Refresh());
  RotateRoot(env.repo, {env.repo.signers["root"][0]}, 1);
  env.repo.timestamp_version = 1;
  env.repo.Publish();
  EXPECT_TRUE(FailedWith(env.Refresh(), TrustErrc::kRollback));
}

}  // namespace
}  // namespace ferry::trust::testing
