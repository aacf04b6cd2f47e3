#include "ferry/core/digest.hpp"

#include <gtest/gtest.h>

#include "ferry/core/fs.hpp"
#include "support/temp_dir.hpp"

namespace ferry {
namespace {

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
