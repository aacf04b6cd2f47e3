#include "ferry/fleetclient/messages.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ferry::fleetclient {
namespace {

using json = nlohmann::json;

const char* const kGood =
    R"({"device": "pump-7", "apps": [
      {"app": "web", "version": "2.0.0", "deployment": "d-17", "downgrade": false},
      {"app": "db.main", "version": "1.2.3-rc.1+b.5", "deployment": "d-2", "downgrade": true}]})";

TEST(ParseAssignment, ReadsEveryDocumentedField) {
  auto a = ParseAssignment(kGood);
  ASSERT_TRUE(a) << a.error().String();
  EXPECT_EQ(a->device, "pump-7");
  ASSERT_EQ(a->apps.size(), 2u);
  EXPECT_EQ(a->apps[0], (AssignedApp{"web", "2.0.0", "d-17", false}));
  EXPECT_EQ(a->apps[1], (AssignedApp{"db.main", "1.2.3-rc.1+b.5", "d-2", true}));
  EXPECT_TRUE(a->etag.empty());
}

TEST(ParseAssignment, AcceptsNoAppsUnknownFieldsAndAMissingDowngradeFlag) {
  auto empty = ParseAssignment(R"({"device": "a", "apps": []})");
  ASSERT_TRUE(empty) << empty.error().String();
  EXPECT_TRUE(empty->apps.empty());
  auto extra = ParseAssignment(
      R"({"device": "a", "future": 1, "apps": [{"app": "web", "version": "1.0.0",
          "deployment": "d-1", "note": "x"}]})");
  ASSERT_TRUE(extra) << extra.error().String();
  EXPECT_FALSE(extra->apps[0].downgrade);
  EXPECT_FALSE(extra->apps[0].retry_bad);
}

TEST(ParseAssignment, ReadsTheRetryBadFlag) {
  auto a = ParseAssignment(R"({"device": "a", "apps": [{"app": "web", "version": "1.0.0",
      "deployment": "d-4", "retry_bad": true}]})");
  ASSERT_TRUE(a) << a.error().String();
  EXPECT_TRUE(a->apps[0].retry_bad);
}

struct BadCase {
  std::string body;
  std::string names;  // what the error message must say
};

TEST(ParseAssignment, RefusesTheWholeReplyForOneBadFieldAndNamesIt) {
  const std::vector<BadCase> cases = {
      {"", "not JSON"},
      {"<html>busy</html>", "not JSON"},
      {R"({"device": "a", "apps": [)", "not JSON"},
      {"[]", "not a JSON object"},
      {R"({"apps": []})", "device: missing"},
      {R"({"device": 7, "apps": []})", "device: not a string"},
      {R"({"device": "a b", "apps": []})", "device: bad device id"},
      {R"({"device": "", "apps": []})", "device: bad device id"},
      {R"({"device": "a"})", "apps: missing or not an array"},
      {R"({"device": "a", "apps": {}})", "apps: missing or not an array"},
      {R"({"device": "a", "apps": [1]})", "apps[0]: not an object"},
      {R"({"device": "a", "apps": [{"version": "1.0.0", "deployment": "d-1"}]})",
       "apps[0].app: missing"},
      {R"({"device": "a", "apps": [{"app": "Web", "version": "1.0.0", "deployment": "d-1"}]})",
       "apps[0].app: bad app name \"Web\""},
      {R"({"device": "a", "apps": [{"app": "../etc", "version": "1.0.0", "deployment": "d-1"}]})",
       "apps[0].app: bad app name"},
      {R"({"device": "a", "apps": [{"app": "-x", "version": "1.0.0", "deployment": "d-1"}]})",
       "apps[0].app: bad app name"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "2.0", "deployment": "d-1"}]})",
       "apps[0].version: \"2.0\" is not semver"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "01.0.0", "deployment": "d-1"}]})",
       "apps[0].version"},
      {R"({"device": "a", "apps": [{"app": "web", "version": 2, "deployment": "d-1"}]})",
       "apps[0].version: not a string"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "1.0.0"}]})",
       "apps[0].deployment: missing"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "1.0.0", "deployment": "d/1"}]})",
       "apps[0].deployment: bad deployment id"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "1.0.0", "deployment": "d-1",
           "downgrade": "yes"}]})",
       "apps[0].downgrade: not true or false"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "1.0.0", "deployment": "d-1",
           "retry_bad": 1}]})",
       "apps[0].retry_bad: not true or false"},
      {R"({"device": "a", "apps": [{"app": "web", "version": "1.0.0", "deployment": "d-1"},
           {"app": "web", "version": "2.0.0", "deployment": "d-2"}]})",
       "apps[1].app: \"web\" listed twice"},
  };
  for (const auto& c : cases) {
    auto a = ParseAssignment(c.body);
    ASSERT_FALSE(a) << c.body;
    EXPECT_TRUE(a.error().Is(FleetClientErrc::kMalformed)) << a.error().String();
    EXPECT_NE(a.error().message().find(c.names), std::string::npos)
        << "body: " << c.body << "\nmessage: " << a.error().message();
  }
}

TEST(ParseAssignment, RefusesVeryLongNamesAndVersions) {
  const std::string long_version = "1.0.0-" + std::string(200, 'a');
  auto a = ParseAssignment(
      json{{"device", "a"},
           {"apps", {{{"app", "web"}, {"version", long_version}, {"deployment", "d-1"}}}}}
          .dump());
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("longer than 128"), std::string::npos);
  auto b = ParseAssignment(json{{"device", std::string(129, 'x')}, {"apps", json::array()}}.dump());
  ASSERT_FALSE(b);
  auto c = ParseAssignment(
      json{{"device", "a"},
           {"apps", {{{"app", std::string(65, 'a')}, {"version", "1.0.0"}, {"deployment", "d-1"}}}}}
          .dump());
  ASSERT_FALSE(c);
}

TEST(ParseAssignment, RefusesDeepNestingBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto a = ParseAssignment(deep);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("nested deeper than 32"), std::string::npos);
  // Brackets inside strings do not count.
  const std::string in_string =
      R"({"device": "a", "apps": [], "x": ")" + std::string(100, '[') + R"("})";
  EXPECT_TRUE(ParseAssignment(in_string));
}

TEST(ParseAssignment, ErrorTextFromTheServerIsMadePrintable) {
  auto a = ParseAssignment(R"({"device": "a", "apps": [{"app": "w\u001b[31m", "version": "1.0.0",
                               "deployment": "d-1"}]})");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message().find('\x1b'), std::string::npos) << a.error().message();
}

TEST(EventsBody, LeavesOutEmptyOptionalFields) {
  const std::vector<DeviceEvent> events = {
      {41, "downloading", "web", "2.0.0", "d-17", "", 1763870000},
      {42, "failed", "web", "", "", "health check failed", 0},
  };
  const json body = json::parse(EventsBody(events));
  EXPECT_EQ(body, json::parse(R"([
      {"sequence": 41, "kind": "downloading", "app": "web", "version": "2.0.0",
       "deployment": "d-17", "time": 1763870000},
      {"sequence": 42, "kind": "failed", "app": "web", "reason": "health check failed"}])"));
  EXPECT_EQ(EventsBody({}), "[]");
}

TEST(EventsBody, InvalidUtf8InAReasonDoesNotThrow) {
  const std::vector<DeviceEvent> events = {{1, "failed", "web", "", "", "bad \xff byte", 0}};
  const json body = json::parse(EventsBody(events));
  EXPECT_EQ(body[0]["reason"], "bad \xEF\xBF\xBD byte");
}

TEST(ParseEventsReply, ReturnsHighestSequence) {
  auto h = ParseEventsReply(R"({"stored": 1, "duplicates": 1, "highest_sequence": 42})");
  ASSERT_TRUE(h) << h.error().String();
  EXPECT_EQ(*h, 42);
  auto zero = ParseEventsReply(R"({"stored": 0, "duplicates": 0, "highest_sequence": 0})");
  ASSERT_TRUE(zero);
  EXPECT_EQ(*zero, 0);
}

TEST(ParseEventsReply, RefusesAnythingElse) {
  for (const char* body :
       {"", "42", "{}", R"({"highest_sequence": "42"})", R"({"highest_sequence": 4.5})",
        R"({"highest_sequence": -1})", R"({"highest_sequence": 18446744073709551615})",
        R"({"highest_sequence": null})", "[1]"}) {
    auto h = ParseEventsReply(body);
    ASSERT_FALSE(h) << body;
    EXPECT_TRUE(h.error().Is(FleetClientErrc::kMalformed)) << body;
    EXPECT_NE(h.error().message().find("events reply"), std::string::npos);
  }
}

TEST(ParseInventoryReply, WantsStoredTrue) {
  EXPECT_TRUE(ParseInventoryReply(R"({"stored": true})"));
  for (const char* body : {"", "{}", R"({"stored": false})", R"({"stored": 1})", "true"}) {
    auto r = ParseInventoryReply(body);
    ASSERT_FALSE(r) << body;
    EXPECT_TRUE(r.error().Is(FleetClientErrc::kMalformed));
  }
}

TEST(ServerErrorText, ExtractsShortPrintableText) {
  EXPECT_EQ(ServerErrorText(R"({"error": "unknown token"})"), "unknown token");
  EXPECT_EQ(ServerErrorText("<html>"), "");
  EXPECT_EQ(ServerErrorText(R"({"error": 5})"), "");
  EXPECT_EQ(ServerErrorText(R"({"error": "a\nb\u0007"})"), "a?b?");
  const std::string long_text = ServerErrorText(json{{"error", std::string(5000, 'x')}}.dump());
  EXPECT_EQ(long_text, std::string(300, 'x') + "...");
}

TEST(ValidEtag, AllowsOnlyVisibleAscii) {
  EXPECT_TRUE(ValidEtag("\"0123abcd\""));
  EXPECT_TRUE(ValidEtag("W/\"x\""));
  EXPECT_FALSE(ValidEtag(""));
  EXPECT_FALSE(ValidEtag("\"a\"\r\nX-Evil: 1"));
  EXPECT_FALSE(ValidEtag("\"a b\""));
  EXPECT_FALSE(ValidEtag("\"\xc3\xa9\""));
  EXPECT_FALSE(ValidEtag(std::string(257, 'a')));
}

TEST(FleetClientErrc, HasACategoryWithReadableMessages) {
  const std::error_code ec = FleetClientErrc::kRateLimited;
  EXPECT_STREQ(ec.category().name(), "ferry.fleetclient");
  EXPECT_EQ(ec.message(), "rate limited");
}

}  // namespace
}  // namespace ferry::fleetclient
