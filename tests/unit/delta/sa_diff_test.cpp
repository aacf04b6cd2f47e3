#include "agent/delta/sa_diff.hpp"

#include <gtest/gtest.h>

#include <random>

#include "agent/delta/matcher.hpp"
#include "tar_builder.hpp"

namespace ferry::testing {
namespace {

using delta::SaApply;
using delta::SaDiff;

void ExpectRoundTrip(const std::string& old_data, const std::string& new_data) {
  delta::SaPatch patch = SaDiff(old_data, new_data);
  std::string out;
  ASSERT_TRUE(SaApply(old_data, patch, out));
  EXPECT_EQ(out, new_data);
}

TEST(SaDiff, RoundTripsEdgeCases) {
  ExpectRoundTrip("", "");
  ExpectRoundTrip("", "new");
  ExpectRoundTrip("old", "");
  ExpectRoundTrip("a", "a");
  ExpectRoundTrip(std::string(10000, '\0'), std::string(10001, '\0'));
  ExpectRoundTrip("abcabcabcabc", "cbacbacbacba");
}

TEST(SaDiff, RoundTripsRandomEdits) {
  std::mt19937 rng(5);
  for (int round = 0; round < 50; ++round) {
    std::string old_data = RandomBytes(1000 + rng() % 20000, static_cast<unsigned>(round));
    std::string new_data = old_data;
    for (int e = 0; e < 20; ++e) {
      std::size_t pos = rng() % (new_data.size() + 1);
      switch (rng() % 3) {
        case 0:
          new_data.insert(pos, RandomBytes(rng() % 50, static_cast<unsigned>(rng())));
          break;
        case 1:
          new_data.erase(pos, rng() % 50);
          break;
        default:
          if (pos < new_data.size()) {
            new_data[pos] = static_cast<char>(new_data[pos] + 1);
          }
      }
    }
    ExpectRoundTrip(old_data, new_data);
  }
}

TEST(SaDiff, SmallEditsGiveASmallExtraStream) {
  std::string old_data = RandomBytes(200000, 1);
  std::string new_data = old_data;
  for (std::size_t i = 0; i < new_data.size(); i += 1000) {
    new_data[i] = static_cast<char>(new_data[i] ^ 1);
  }
  delta::SaPatch patch = SaDiff(old_data, new_data);
  EXPECT_LT(patch.extra.size(), 1000u);
}

TEST(SaDiff, ApplyRefusesAPatchThatDoesNotFit) {
  delta::SaPatch patch = SaDiff("hello world", "hello there world");
  std::string out;
  EXPECT_FALSE(SaApply("hi", patch, out));
}

TEST(RenameKey, IgnoresVersionNumbers) {
  EXPECT_EQ(delta::RenameKey("usr/lib/libfoo.so.1.2.3"),
            delta::RenameKey("usr/lib/libfoo.so.1.2.4"));
  EXPECT_EQ(delta::RenameKey("usr/lib/libfoo.so.1.2.3"), "usr/lib/libfoo.so.#.#.#");
  EXPECT_NE(delta::RenameKey("usr/lib/libfoo.so.1"), delta::RenameKey("usr/lib/libbar.so.1"));
}

}  // namespace
}  // namespace ferry::testing
