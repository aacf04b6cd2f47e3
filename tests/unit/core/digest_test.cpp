#include "ferry/core/digest.hpp"

#include <gtest/gtest.h>

#include "ferry/core/fs.hpp"
#include "support/temp_dir.hpp"

namespace ferry {
namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(Digest, ParsesSha256AndSixtyFourLowercaseHexDigits) {
  auto digest = Digest::Parse("sha256:" + kHex);
  ASSERT_TRUE(digest) << digest.error().message();
  EXPECT_EQ(digest->str(), "sha256:" + kHex);
  EXPECT_EQ(digest->hex(), kHex);
}

TEST(Digest, ParsesWhatFormatSha256DigestSpells) {
  const std::string spelt = Sha256Digest("bytes");
  auto digest = Digest::Parse(spelt);
  ASSERT_TRUE(digest) << digest.error().message();
  EXPECT_EQ(digest->str(), spelt);
}

TEST(Digest, RefusesUppercaseHex) {
  std::string upper = kHex;
  upper[10] = 'A';
  EXPECT_FALSE(Digest::Parse("sha256:" + upper));
  EXPECT_FALSE(Digest::FromHex(upper));
}

TEST(Digest, RefusesAWrongLength) {
  EXPECT_FALSE(Digest::Parse("sha256:" + kHex.substr(1)));
  EXPECT_FALSE(Digest::Parse("sha256:" + kHex + "0"));
  EXPECT_FALSE(Digest::Parse("sha256:"));
  EXPECT_FALSE(Digest::Parse(""));
  EXPECT_FALSE(Digest::FromHex(kHex.substr(1)));
}

TEST(Digest, RefusesAnotherAlgorithmOrNoPrefix) {
  EXPECT_FALSE(Digest::Parse("sha512:" + kHex));
  EXPECT_FALSE(Digest::Parse("SHA256:" + kHex));
  EXPECT_FALSE(Digest::Parse(kHex));
  EXPECT_FALSE(Digest::Parse("sha256-" + kHex));
}

TEST(Digest, RefusesNonHexDigits) {
  std::string bad = kHex;
  bad[63] = 'g';
  EXPECT_FALSE(Digest::Parse("sha256:" + bad));
  bad[63] = '\0';
  EXPECT_FALSE(Digest::Parse("sha256:" + bad));
}

// A digest's hex names a file: nothing that walks out of a directory may pass.
TEST(Digest, RefusesPathsDressedAsDigests) {
  auto st = Digest::Parse("sha256:../../x");
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(Errc::kInvalidArgument));
  EXPECT_EQ(st.error().message(),
            "\"sha256:../../x\" is not a digest: sha256: followed by 64 lowercase hex digits");
  EXPECT_FALSE(Digest::Parse("sha256:" + kHex.substr(0, 60) + "/../"));
  EXPECT_FALSE(Digest::FromHex("../" + kHex.substr(3)));
}

TEST(Digest, FromHexAddsThePrefix) {
  auto digest = Digest::FromHex(kHex);
  ASSERT_TRUE(digest) << digest.error().message();
  EXPECT_EQ(digest->str(), "sha256:" + kHex);
  EXPECT_EQ(*digest, *Digest::Parse("sha256:" + kHex));
}

TEST(VerifyFile, AcceptsTheSignedSizeAndDigest) {
  testing::TempDir dir;
  const std::string bytes(300 * 1024, 'x');
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "blob", bytes));
  EXPECT_TRUE(VerifyFile(dir / "blob", Sha256Digest(bytes), bytes.size()));
}

// ferryd stopping while it hashes a large blob: the hashing ends at the next 128 KiB.
TEST(VerifyFile, StopsWithCancelledWhenAskedToStop) {
  testing::TempDir dir;
  const std::string bytes(1024 * 1024, 'x');
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "blob", bytes));
  int checks = 0;
  Status st =
      VerifyFile(dir / "blob", Sha256Digest(bytes), bytes.size(), [&] { return ++checks > 2; });
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(Errc::kCancelled)) << st.error().message();
  EXPECT_EQ(checks, 3);
}

}  // namespace
}  // namespace ferry
