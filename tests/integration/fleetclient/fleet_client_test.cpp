// The device's fleet client against the real ferry-server on loopback (the operator's side driven
// by `ferry-server admin`), and against canned replies no real server sends.
#include "ferry/fleetclient/fleet_client.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

#include "integration/server/fleet_server_test.hpp"
#include "support/loopback_http_server.hpp"

namespace ferry::testing {
namespace {

using fleetclient::FleetClientErrc;
using json = nlohmann::json;

// Real time, for the clients of tests that give no Retry-After date.
const SystemClock kSystemClock;

class FleetClientTest : public FleetServerTest {
 protected:
  void Start(const std::vector<std::string>& extra = {}) { StartFleetServer(extra); }

  std::unique_ptr<fleetclient::FleetClient> Client(const std::string& token, std::string url = "") {
    fleetclient::ClientOptions options;
    options.base_url = url.empty() ? url_ : std::move(url);
    options.token = token;
    options.connect_timeout = std::chrono::seconds(5);
    options.total_timeout = std::chrono::seconds(10);
    return fleetclient::MakeFleetClient(kSystemClock, std::move(options));
  }
};

TEST_F(FleetClientTest, SeesItsAssignmentAndAnUnchangedOneCostsNothing) {
  Start();
  const std::string token = AddDevice("pump-7");
  auto client = Client(token);

  auto before = client->GetAssignment("");
  ASSERT_TRUE(before) << before.error().String();
  ASSERT_TRUE(before->has_value());
  EXPECT_EQ((*before)->device, "pump-7");
  EXPECT_TRUE((*before)->apps.empty());
  EXPECT_FALSE((*before)->etag.empty());

  ASSERT_EQ(AdminJson({"deploy", "create", "--app", "web", "--version", "2.0.0", "--device",
                       "pump-7"})["deployment"]["id"],
            "d-1");
  auto after = client->GetAssignment((*before)->etag);
  ASSERT_TRUE(after) << after.error().String();
  ASSERT_TRUE(after->has_value()) << "the assignment changed, so its ETag did";
  EXPECT_EQ((*after)->apps,
            (std::vector<fleetclient::AssignedApp>{{"web", "2.0.0", "d-1", false}}));
  EXPECT_NE((*after)->etag, (*before)->etag);

  auto unchanged = client->GetAssignment((*after)->etag);
  ASSERT_TRUE(unchanged) << unchanged.error().String();
  EXPECT_FALSE(unchanged->has_value());
  EXPECT_FALSE(client->RetryAfter().has_value());
}

TEST_F(FleetClientTest, EventsPostedTwiceAreStoredOnce) {
  Start();
  const std::string token = AddDevice("pump-7");
  AdminJson({"deploy", "create", "--app", "web", "--version", "2.0.0", "--device", "pump-7"});
  auto client = Client(token);
  const std::vector<fleetclient::DeviceEvent> first = {
      {1, "downloading", "web", "2.0.0", "d-1", "", 1763870000},
      {2, "staging", "web", "2.0.0", "", "", 0},
  };
  auto highest = client->PostEvents(first);
  ASSERT_TRUE(highest) << highest.error().String();
  EXPECT_EQ(*highest, 2);

  // The reply was "lost": the outbox is sent again with a new event.
  auto again = first;
  again.push_back({3, "committed", "web", "2.0.0", "d-1", "", 0});
  highest = client->PostEvents(again);
  ASSERT_TRUE(highest) << highest.error().String();
  EXPECT_EQ(*highest, 3);

  const json shown = AdminJson({"devices", "show", "pump-7"});
  ASSERT_EQ(shown["events"].size(), 3u) << shown.dump();
  const json status = AdminJson({"deploy", "status", "d-1"});
  EXPECT_EQ(status["deployment"]["counts"]["committed"], 1) << status.dump();
}

TEST_F(FleetClientTest, AnEventTheServerRefusesIsRejectedWithItsReason) {
  Start();
  auto client = Client(AddDevice("pump-7"));
  auto r = client->PostEvents({{1, "exploded", "web", "", "", "", 0}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FleetClientErrc::kRejected)) << r.error().String();
  EXPECT_NE(r.error().message().find("POST " + url_ + "/v1/device/events: HTTP 400: "),
            std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("exploded"), std::string::npos) << r.error().message();
}

TEST_F(FleetClientTest, InventoryIsVisibleToTheOperator) {
  Start();
  auto client = Client(AddDevice("pump-7"));
  const json inventory = {
      {"agent_version", "0.3.0"},
      {"free_bytes", 1073741824},
      {"apps", {{{"app", "web"}, {"version", "2.0.0"}, {"revision", "r-9"}, {"health", "ok"}}}}};
  auto put = client->PutInventory(inventory);
  ASSERT_TRUE(put) << put.error().String();
  const json shown = AdminJson({"devices", "show", "pump-7"});
  EXPECT_EQ(shown["device"]["inventory"], inventory) << shown.dump();
  EXPECT_FALSE(shown["device"]["inventory_at"].is_null());

  auto not_object = client->PutInventory(json::array());
  ASSERT_FALSE(not_object);
  EXPECT_TRUE(not_object.error().Is(Errc::kInvalidArgument));
}

TEST_F(FleetClientTest, ARevokedDeviceAndAnUnknownTokenAreUnauthorized) {
  Start();
  const std::string token = AddDevice("pump-7");
  auto client = Client(token);
  ASSERT_TRUE(client->GetAssignment(""));
  ASSERT_EQ(Admin({"devices", "revoke", "pump-7"}).exit_code, 0);
  auto r = client->GetAssignment("");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FleetClientErrc::kUnauthorized)) << r.error().String();
  EXPECT_NE(r.error().message().find("GET " + url_ + "/v1/device/assignment: HTTP 401"),
            std::string::npos)
      << r.error().message();

  auto unknown = Client("fdt_" + std::string(64, '0'))->PutInventory(json::object());
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(unknown.error().Is(FleetClientErrc::kUnauthorized)) << unknown.error().String();

  auto operator_token =
      Client("8f2c1d9e4b7a6053f1e2d3c4b5a69788e7d6c5b4a3928170f6e5d4c3b2a19080")->GetAssignment("");
  ASSERT_FALSE(operator_token);
  EXPECT_TRUE(operator_token.error().Is(FleetClientErrc::kForbidden))
      << operator_token.error().String();
}

TEST_F(FleetClientTest, RateLimitingGivesRetryAfter) {
  Start({"--device-rate", "0.01", "--device-burst", "1"});
  auto client = Client(AddDevice("pump-7"));
  ASSERT_TRUE(client->GetAssignment(""));
  auto limited = client->GetAssignment("");
  ASSERT_FALSE(limited);
  EXPECT_TRUE(limited.error().Is(FleetClientErrc::kRateLimited)) << limited.error().String();
  EXPECT_NE(limited.error().message().find("HTTP 429"), std::string::npos);
  ASSERT_TRUE(client->RetryAfter().has_value());
  // One token per 100 s: the next request passes in 99 or 100 s.
  EXPECT_GE(client->RetryAfter()->count(), 90);
  EXPECT_LE(client->RetryAfter()->count(), 100);
}

TEST_F(FleetClientTest, AServerThatIsDownFailsQuicklyAsTransport) {
  Start();
  auto client = Client(AddDevice("pump-7"));
  server_->child().Signal(SIGTERM);
  ASSERT_EQ(server_->child().Wait(std::chrono::seconds(10)), 0);
  const auto start = std::chrono::steady_clock::now();
  auto r = client->GetAssignment("");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FleetClientErrc::kTransport)) << r.error().String();
  EXPECT_NE(r.error().message().find(url_), std::string::npos) << r.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// ---- replies no real fleet server sends ----

fleetclient::ClientOptions Opts(const std::string& url, const std::string& token) {
  fleetclient::ClientOptions options;
  options.base_url = url;
  options.token = token;
  return options;
}

std::string HttpReply(const std::string& status_line, const std::string& body,
                      const std::string& headers = "") {
  return "HTTP/1.1 " + status_line + "\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

TEST(FleetClientReplies, AReplyThatIsNotJsonIsMalformed) {
  LoopbackHttpServer server(
      AlwaysReply(HttpReply("200 OK", "<html>welcome to the captive portal</html>")));
  auto options = Opts(server.url() + "/", "fdt_x");
  auto client = fleetclient::MakeFleetClient(kSystemClock, options);
  auto a = client->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kMalformed)) << a.error().String();
  EXPECT_NE(a.error().message().find("GET " + server.url() + "/v1/device/assignment: "),
            std::string::npos)
      << a.error().message();
  EXPECT_NE(a.error().message().find("not JSON"), std::string::npos);
  // What the request looked like on the wire.
  const std::string request = server.LastHead();
  EXPECT_TRUE(request.starts_with("GET /v1/device/assignment HTTP/1.1\r\n")) << request;
  EXPECT_NE(request.find("Authorization: Bearer fdt_x\r\n"), std::string::npos) << request;

  auto events = client->PostEvents({{1, "trial", "web", "", "", "", 0}});
  ASSERT_FALSE(events);
  EXPECT_TRUE(events.error().Is(FleetClientErrc::kMalformed));
  EXPECT_NE(server.LastHead().find("Content-Type: application/json"), std::string::npos);
  auto inventory = client->PutInventory(json::object());
  ASSERT_FALSE(inventory);
  EXPECT_TRUE(inventory.error().Is(FleetClientErrc::kMalformed));
  EXPECT_TRUE(server.LastHead().starts_with("PUT /v1/device/inventory HTTP/1.1"));
}

TEST(FleetClientReplies, AnAssignmentWithABadEntryIsMalformedAndNamesTheField) {
  LoopbackHttpServer server(AlwaysReply(HttpReply(
      "200 OK", R"({"device":"a","apps":[{"app":"web","version":"latest","deployment":"d-1"}]})")));
  auto a = fleetclient::MakeFleetClient(kSystemClock, Opts(server.url(), "t"))->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kMalformed));
  EXPECT_NE(a.error().message().find("apps[0].version: \"latest\" is not semver"),
            std::string::npos)
      << a.error().message();
}

TEST(FleetClientReplies, AnEtagThatCouldInjectAHeaderIsRefused) {
  LoopbackHttpServer server(
      AlwaysReply(HttpReply("200 OK", R"({"device":"a","apps":[]})", "ETag: \"a b\"\r\n")));
  auto options = Opts(server.url(), "t");
  auto client = fleetclient::MakeFleetClient(kSystemClock, options);
  auto a = client->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kMalformed)) << a.error().String();
  auto bad_arg = client->GetAssignment("\"x\"\r\nX-Evil: 1");
  ASSERT_FALSE(bad_arg);
  EXPECT_TRUE(bad_arg.error().Is(Errc::kInvalidArgument));
  EXPECT_EQ(server.connections(), 1) << "nothing is sent for a bad etag";
}

TEST(FleetClientReplies, AHugeReplyIsCutOffAndMalformed) {
  const std::string big(3 << 20, ' ');
  // Declared: refused before the body is read.
  LoopbackHttpServer declared(AlwaysReply(HttpReply("200 OK", big)));
  auto a = fleetclient::MakeFleetClient(kSystemClock, Opts(declared.url(), "t"))->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kMalformed)) << a.error().String();
  EXPECT_NE(a.error().message().find("larger than 1048576 bytes"), std::string::npos);
  // Undeclared (read to the close): cut off as it streams in.
  LoopbackHttpServer streamed(AlwaysReply("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big));
  auto b = fleetclient::MakeFleetClient(kSystemClock, Opts(streamed.url(), "t"))->GetAssignment("");
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.error().Is(FleetClientErrc::kMalformed)) << b.error().String();
  EXPECT_NE(b.error().message().find("larger than 1048576 bytes"), std::string::npos);
}

TEST(FleetClientReplies, RedirectsAreNeverFollowed) {
  LoopbackHttpServer elsewhere(AlwaysReply(HttpReply("200 OK", R"({"device":"evil","apps":[]})")));
  LoopbackHttpServer redirecting(AlwaysReply(
      HttpReply("302 Found", "", "Location: " + elsewhere.url() + "/v1/device/assignment\r\n")));
  auto a =
      fleetclient::MakeFleetClient(kSystemClock, Opts(redirecting.url(), "t"))->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kMalformed)) << a.error().String();
  EXPECT_NE(a.error().message().find("HTTP 302 (redirects are not followed)"), std::string::npos)
      << a.error().message();
  EXPECT_EQ(elsewhere.connections(), 0);
}

TEST(FleetClientReplies, ServerErrorsCarryTheirTextAndRetryAfterDates) {
  LoopbackHttpServer server(
      AlwaysReply(HttpReply("503 Service Unavailable", R"({"error":"maintenance"})",
                            "Retry-After: Tue, 14 Nov 2023 22:14:20 GMT\r\n")));
  ManualClock clock(std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
  auto client = fleetclient::MakeFleetClient(clock, Opts(server.url(), "t"));
  auto a = client->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kServer)) << a.error().String();
  EXPECT_NE(a.error().message().find("HTTP 503: maintenance"), std::string::npos)
      << a.error().message();
  // 1700000000 is 22:13:20 that day.
  EXPECT_EQ(client->RetryAfter(), std::chrono::seconds(60));
}

TEST(FleetClientReplies, AVeryLongRetryAfterIsCut) {
  LoopbackHttpServer server(
      AlwaysReply(HttpReply("429 Too Many Requests", "{}", "Retry-After: 99999999\r\n")));
  auto client = fleetclient::MakeFleetClient(kSystemClock, Opts(server.url(), "t"));
  ASSERT_FALSE(client->GetAssignment(""));
  EXPECT_EQ(client->RetryAfter(), std::chrono::seconds(3600));
}

TEST(FleetClientReplies, ASilentServerTimesOut) {
  LoopbackHttpServer server(HoldSilently());
  auto options = Opts(server.url(), "t");
  options.total_timeout = std::chrono::seconds(1);
  auto r = fleetclient::MakeFleetClient(kSystemClock, options)->GetAssignment("");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().Is(FleetClientErrc::kTimeout)) << r.error().String();
}

TEST(FleetClientReplies, TheEnvironmentsProxyIsIgnored) {
  LoopbackHttpServer proxy(AlwaysReply(HttpReply("200 OK", R"({"device":"via-proxy","apps":[]})")));
  LoopbackHttpServer server(AlwaysReply(HttpReply("200 OK", R"({"device":"direct","apps":[]})")));
  ::setenv("http_proxy", proxy.url().c_str(), 1);
  ::setenv("HTTP_PROXY", proxy.url().c_str(), 1);
  ::setenv("ALL_PROXY", proxy.url().c_str(), 1);
  ::setenv("NO_PROXY", "", 1);
  auto a = fleetclient::MakeFleetClient(kSystemClock, Opts(server.url(), "t"))->GetAssignment("");
  ::unsetenv("http_proxy");
  ::unsetenv("HTTP_PROXY");
  ::unsetenv("ALL_PROXY");
  ::unsetenv("NO_PROXY");
  ASSERT_TRUE(a) << a.error().String();
  EXPECT_EQ((*a)->device, "direct");
  EXPECT_EQ(proxy.connections(), 0);

  // The configured proxy is used.
  auto options = Opts(server.url(), "t");
  options.proxy = proxy.url();
  auto b = fleetclient::MakeFleetClient(kSystemClock, options)->GetAssignment("");
  ASSERT_TRUE(b) << b.error().String();
  EXPECT_EQ((*b)->device, "via-proxy");
}

TEST(FleetClientReplies, BadUrlsAndTokensAreRefusedBeforeSending) {
  for (const char* url :
       {"ftp://127.0.0.1/", "127.0.0.1:80", "", "http://h/x?y=1", "http://h/x#f", "http://h /x"}) {
    auto r = fleetclient::MakeFleetClient(kSystemClock, Opts(url, "t"))->GetAssignment("");
    ASSERT_FALSE(r) << url;
    EXPECT_TRUE(r.error().Is(FleetClientErrc::kBadUrl)) << url << ": " << r.error().String();
  }
  LoopbackHttpServer server(AlwaysReply(HttpReply("200 OK", R"({"device":"a","apps":[]})")));
  for (const char* token : {"", "fdt_x\r\nX-Evil: 1"}) {
    auto r =
        fleetclient::MakeFleetClient(kSystemClock, Opts(server.url(), token))->GetAssignment("");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().Is(Errc::kInvalidArgument)) << r.error().String();
  }
  EXPECT_EQ(server.connections(), 0);
}

}  // namespace
}  // namespace ferry::testing
