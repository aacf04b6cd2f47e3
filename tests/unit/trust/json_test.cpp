#include "ferry/trust/json.hpp"

#include <gtest/gtest.h>

#include "ferry/trust/error.hpp"

namespace ferry::trust {
namespace {

TEST(Json, KeepsMemberOrderAsReceived) {
  auto v = ParseJson(R"({"b": 1, "a": [true, false, null], "c": "x"})");
  ASSERT_TRUE(v) << v.error().String();
  ASSERT_TRUE(v->IsObject());
  const auto& obj = v->AsObject();
  ASSERT_EQ(obj.size(), 3u);
  EXPECT_EQ(obj[0].first, "b");
  EXPECT_EQ(obj[1].first, "a");
  EXPECT_EQ(obj[2].first, "c");
}

TEST(Json, RejectsDuplicateKeys) {
  auto v = ParseJson(R"({"version": 1, "version": 2})");
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().Is(TrustErrc::kMalformed));
  EXPECT_NE(v.error().message().find("duplicate"), std::string::npos);
  EXPECT_FALSE(ParseJson(R"({"a": {"x": 1, "x": 1}})"));
}

TEST(Json, RejectsNonIntegerNumbers) {
  EXPECT_FALSE(ParseJson("1.0"));
  EXPECT_FALSE(ParseJson("1e3"));
  EXPECT_FALSE(ParseJson("[1E3]"));
  EXPECT_FALSE(ParseJson("-0"));
  EXPECT_FALSE(ParseJson("01"));
  EXPECT_FALSE(ParseJson("99999999999999999999"));
  auto v = ParseJson("-42");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->AsInt(), -42);
}

TEST(Json, RejectsMalformedDocuments) {
  for (const char* text : {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "tru", "\"abc", "\"\\x\"",
                           "\"\\ud800\"", "{} {}", "\"a\x01\"", "\"\xff\"", "[1 2]", "{1: 2}"}) {
    EXPECT_FALSE(ParseJson(text)) << text;
  }
}

TEST(Json, BoundsNesting) {
  EXPECT_TRUE(ParseJson(std::string(60, '[') + std::string(60, ']')));
  EXPECT_FALSE(ParseJson(std::string(100000, '[') + std::string(100000, ']')));
}

TEST(Json, ParsesObjectsWithManyMembers) {
  // A snapshot may list tens of thousands of roles; duplicate detection must not be quadratic.
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) {
    text += (i ? ",\"r" : "\"r") + std::to_string(i) + ".json\":{\"version\":1}";
  }
  text += "}";
  auto v = ParseJson(text);
  ASSERT_TRUE(v) << v.error().String();
  EXPECT_EQ(v->AsObject().size(), 200000u);
  text.insert(text.size() - 1, ",\"r7.json\":{}");
  EXPECT_FALSE(ParseJson(text));
}

TEST(Json, DecodesEscapesToUtf8) {
  auto v = ParseJson(R"("a\"b\\c\/\n\u00e9\ud83d\ude00")");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->AsString(), "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Canonicalize, SortsKeysDropsWhitespaceEscapesOnlyQuoteAndBackslash) {
  auto v = ParseJson("{ \"b\": [1, -2, {\"z\": null, \"y\": true}],\n \"a\": \"q\\\"\\\\\\n\" }");
  ASSERT_TRUE(v);
  EXPECT_EQ(Canonicalize(*v), "{\"a\":\"q\\\"\\\\\n\",\"b\":[1,-2,{\"y\":true,\"z\":null}]}");
}

TEST(Canonicalize, SortsByBytesAndKeepsUnknownMembers) {
  auto v = ParseJson(R"({"\u00e9": 1, "Z": 2, "a": {"custom": {"x": "y"}}})");
  ASSERT_TRUE(v);
  EXPECT_EQ(Canonicalize(*v), "{\"Z\":2,\"a\":{\"custom\":{\"x\":\"y\"}},\"\xc3\xa9\":1}");
}

TEST(Canonicalize, RoundTripsItsOwnOutput) {
  auto v = ParseJson(R"({"signed": {"b": [], "a": {}}, "n": 9223372036854775807})");
  ASSERT_TRUE(v);
  const std::string once = Canonicalize(*v);
  auto again = ParseJson(once);
  ASSERT_TRUE(again);
  EXPECT_EQ(Canonicalize(*again), once);
}

}  // namespace
}  // namespace ferry::trust
