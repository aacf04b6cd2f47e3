#include "ferry/trust/signer.hpp"

#include <gtest/gtest.h>

#include "ferry/trust/crypto.hpp"
#include "ferry/trust/error.hpp"
#include "test_repository.hpp"

namespace ferry::trust {
namespace {

class SignerTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(SignerTest, SignsAndVerifiesCanonicalBytes) {
  const SigningKey key = testing::CachedKey(GetParam(), 0);
  auto sig = key.Sign("{\"a\":1}");
  ASSERT_TRUE(sig) << sig.error().String();
  EXPECT_TRUE(VerifySignature(key.public_key(), "{\"a\":1}", *sig));
  EXPECT_FALSE(VerifySignature(key.public_key(), "{\"a\":2}", *sig));
  std::string flipped = *sig;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == '0' ? '1' : '0';
  EXPECT_FALSE(VerifySignature(key.public_key(), "{\"a\":1}", flipped));
  EXPECT_FALSE(VerifySignature(key.public_key(), "{\"a\":1}", "zz"));
  EXPECT_FALSE(VerifySignature(testing::CachedKey(GetParam(), 1).public_key(), "{\"a\":1}", *sig));
}

TEST_P(SignerTest, PrivatePemRoundTripKeepsKeyId) {
  const SigningKey key = testing::CachedKey(GetParam(), 0);
  auto pem = key.PrivatePem();
  ASSERT_TRUE(pem);
  EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----"));
  auto loaded = SigningKey::FromPrivatePem(*pem);
  ASSERT_TRUE(loaded) << loaded.error().String();
  EXPECT_EQ(loaded->KeyId(), key.KeyId());
  EXPECT_EQ(loaded->type(), GetParam());
}

TEST_P(SignerTest, KeyIdIsSha256OfCanonicalPublicKey) {
  const SigningKey key = testing::CachedKey(GetParam(), 0);
  EXPECT_EQ(key.KeyId(), Sha256Hex(Canonicalize(key.PublicKeyJson())));
  EXPECT_EQ(key.KeyId().size(), 64u);
  EXPECT_NE(key.KeyId(), testing::CachedKey(GetParam(), 1).KeyId());
}

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, SignerTest,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256,
                                           KeyType::kRsaPss));

TEST(Signer, PublicKeyFormats) {
  const auto ed = testing::CachedKey(KeyType::kEd25519, 0).public_key();
  EXPECT_EQ(ed.keytype, "ed25519");
  EXPECT_EQ(ed.public_value.size(), 64u);
  const auto ec = testing::CachedKey(KeyType::kEcdsaP256, 0).public_key();
  EXPECT_EQ(ec.scheme, "ecdsa-sha2-nistp256");
  EXPECT_TRUE(ec.public_value.starts_with("-----BEGIN PUBLIC KEY-----"));
  const auto rsa = testing::CachedKey(KeyType::kRsaPss, 0).public_key();
  EXPECT_EQ(rsa.scheme, "rsassa-pss-sha256");
  EXPECT_TRUE(rsa.public_value.starts_with("-----BEGIN PUBLIC KEY-----"));
}

TEST(Signer, KeyTypeAndSchemeMustAgree) {
  const SigningKey key = testing::CachedKey(KeyType::kEcdsaP256, 0);
  auto sig = key.Sign("m");
  ASSERT_TRUE(sig);
  PublicKey wrong = key.public_key();
  wrong.scheme = "rsassa-pss-sha256";
  EXPECT_FALSE(VerifySignature(wrong, "m", *sig));
  wrong = key.public_key();
  wrong.keytype = "ecdsa-sha2-nistp256";  // the older spelling of the key type is accepted
  EXPECT_TRUE(VerifySignature(wrong, "m", *sig));
  wrong.keytype = "rsa";
  EXPECT_FALSE(VerifySignature(wrong, "m", *sig));
}

TEST(Signer, RejectsGarbagePem) {
  auto key = SigningKey::FromPrivatePem("-----BEGIN PRIVATE KEY-----\nAAAA\n");
  ASSERT_FALSE(key);
  EXPECT_TRUE(key.error().Is(TrustErrc::kMalformed));
}

TEST(Hash, Sha256Sha512AndUnknownAlgorithm) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto h = HashHex("sha512", "abc");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->starts_with("ddaf35a193617aba"));
  auto md5 = HashHex("md5", "abc");
  ASSERT_FALSE(md5);
  EXPECT_TRUE(md5.error().Is(TrustErrc::kUnsupported));
}

}  // namespace
}  // namespace ferry::trust
