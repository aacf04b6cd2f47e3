// The fleet API over real HTTP on loopback, served in-process so that the rate limiter and phase
// waits run on a ManualClock. TESTING.md §6, line by line.
#include "ferry/fleet/api.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "ferry/httpd/server.hpp"
#include "integration/server/raw_http.hpp"
#include "support/temp_dir.hpp"

namespace ferry::fleet {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::RawConnection;
using testing::RawResponse;

constexpr const char* kOperator = "operator-secret-token";

class FleetApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fleet_ = Fleet::Open(dir_ / "fleet.db", clock_).value();
    ApiOptions options;
    options.operator_token = kOperator;
    options.device_limit = {1.0, 5};
    options.unauthenticated_limit = {1.0, 5};
    options.operator_limit = {100.0, 1000};
    ASSERT_TRUE(AddFleetRoutes(router_, fleet_, clock_, options).has_value());
    server_ = std::make_unique<httpd::Server>(io_, router_);
    port_ = server_->Listen({boost::asio::ip::make_address("127.0.0.1"), 0}).value().port();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    server_->Stop();
    io_.stop();
    thread_.join();
  }

  RawResponse Call(const std::string& method, const std::string& target, const std::string& token,
                   const std::string& body = "", const std::string& extra = "") {
    RawConnection c(port_);
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!token.empty()) {
      request += "Authorization: Bearer " + token + "\r\n";
    }
    request += extra;
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    c.Send(request);
    auto r = c.Read();
    EXPECT_TRUE(r.has_value()) << method << " " << target;
    return r.value_or(RawResponse{});
  }

  std::string AddDevice(const std::string& id, const std::string& tag) {
    auto r = Call("POST", "/v1/devices", kOperator, json{{"id", id}, {"tags", {tag}}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).at("token").get<std::string>();
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::shared_ptr<Fleet> fleet_;
  httpd::Router router_;
  boost::asio::io_context io_;
  std::unique_ptr<httpd::Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

const std::vector<std::pair<std::string, std::string>> kDeviceRoutes = {
    {"GET", "/v1/device/assignment"},
    {"POST", "/v1/device/events"},
    {"PUT", "/v1/device/inventory"}};
const std::vector<std::pair<std::string, std::string>> kOperatorRoutes = {
    {"GET", "/v1/devices"},
    {"POST", "/v1/devices"},
    {"GET", "/v1/devices/b"},
    {"POST", "/v1/devices/b/revoke"},
    {"POST", "/v1/devices/b/tags"},
    {"GET", "/v1/deployments"},
    {"POST", "/v1/deployments"},
    {"GET", "/v1/deployments/d-1"},
    {"POST", "/v1/deployments/d-1/pause"}};

TEST_F(FleetApiTest, NoBadOrRevokedTokenGets401Everywhere) {
  const std::string token = AddDevice("a", "lab");
  ASSERT_EQ(Call("POST", "/v1/devices/a/revoke", kOperator).status, 200);
  int n = 0;
  for (const auto& routes : {kDeviceRoutes, kOperatorRoutes}) {
    for (const auto& [method, path] : routes) {
      for (const std::string& bad : {std::string(), std::string("fdt_nope"), token}) {
        if (++n % 4 == 0) {
          clock_.Advance(10s);  // stay under the failed-token rate limit
        }
        const auto r = Call(method, path, bad, method == "GET" ? "" : "{}");
        EXPECT_EQ(r.status, 401) << method << " " << path << " token " << bad;
        EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"ferry-fleet\"");
      }
    }
  }
  // Basic auth or a malformed header is no token either.
  clock_.Advance(10s);
  EXPECT_EQ(Call("GET", "/v1/devices", "", "", "Authorization: Basic b3A6b3A=\r\n").status, 401);
}

TEST_F(FleetApiTest, DeviceTokenOnOperatorApiIs403AndOperatorTokenOnDeviceApiIs403) {
  const std::string a = AddDevice("a", "lab");
  AddDevice("b", "lab");
  for (const auto& [method, path] : kOperatorRoutes) {
    clock_.Advance(1s);
    EXPECT_EQ(Call(method, path, a, method == "GET" ? "" : "{}").status, 403)
        << method << " " << path;
  }
  for (const auto& [method, path] : kDeviceRoutes) {
    EXPECT_EQ(Call(method, path, kOperator, method == "GET" ? "" : "{}").status, 403)
        << method << " " << path;
  }
  // Nothing changed on b's behalf.
  const auto b = json::parse(Call("GET", "/v1/devices/b", kOperator).body);
  EXPECT_FALSE(b["device"]["revoked"].get<bool>());
}

TEST_F(FleetApiTest, ADeviceSeesAndTouchesOnlyItsOwnData) {
  const std::string a = AddDevice("a", "one");
  const std::string b = AddDevice("b", "two");
  ASSERT_EQ(Call("POST", "/v1/deployments", kOperator,
                 json{{"app", "web"}, {"version", "2.0.0"}, {"tags", {"two"}}}.dump())
                .status,
            201);
  auto ra = json::parse(Call("GET", "/v1/device/assignment", a).body);
  EXPECT_EQ(ra["device"], "a");
  EXPECT_TRUE(ra["apps"].empty());
  auto rb = json::parse(Call("GET", "/v1/device/assignment", b).body);
  ASSERT_EQ(rb["apps"].size(), 1u);
  EXPECT_EQ(rb["apps"][0]["deployment"], "d-1");

  // a reports a failure naming b's deployment: stored as a's event, b's state untouched.
  const auto r = Call("POST", "/v1/device/events", a,
                      json::array({{{"sequence", 1},
                                    {"kind", "failed"},
                                    {"app", "web"},
                                    {"deployment", "d-1"},
                                    {"reason", "spoof"}}})
                          .dump());
  EXPECT_EQ(r.status, 200);
  const auto d = json::parse(Call("GET", "/v1/deployments/d-1", kOperator).body)["deployment"];
  EXPECT_EQ(d["counts"]["failed"], 0);
  EXPECT_EQ(d["state"], "active");
  // a's inventory lands on a only.
  EXPECT_EQ(Call("PUT", "/v1/device/inventory", a, R"({"agent_version":"0.1.0"})").status, 200);
  const auto shown_b = json::parse(Call("GET", "/v1/devices/b", kOperator).body);
  EXPECT_TRUE(shown_b["device"]["inventory"].is_null());
  const auto shown_a = json::parse(Call("GET", "/v1/devices/a", kOperator).body);
  EXPECT_EQ(shown_a["device"]["inventory"]["agent_version"], "0.1.0");
}

TEST_F(FleetApiTest, FloodsGet429WithRetryAfter) {
  const std::string a = AddDevice("a", "lab");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Call("GET", "/v1/device/assignment", a).status, 200) << i;
  }
  auto r = Call("GET", "/v1/device/assignment", a);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "1");
  // Another device is not held back by a's flood.
  const std::string b = AddDevice("b", "lab");
  EXPECT_EQ(Call("GET", "/v1/device/assignment", b).status, 200);
  clock_.Advance(1s);
  EXPECT_EQ(Call("GET", "/v1/device/assignment", a).status, 200);
  EXPECT_EQ(Call("GET", "/v1/device/assignment", a).status, 429);

  // Guessing tokens: 401 until the peer's budget is spent, then 429.
  int unauthorized = 0;
  int limited = 0;
  for (int i = 0; i < 10; ++i) {
    const auto g = Call("GET", "/v1/device/assignment", "fdt_guess" + std::to_string(i));
    (g.status == 401 ? unauthorized : limited) += 1;
    if (g.status == 429) {
      EXPECT_FALSE(g.Header("retry-after").empty());
    }
  }
  EXPECT_EQ(unauthorized, 5);
  EXPECT_EQ(limited, 5);
}

TEST_F(FleetApiTest, OversizedBodiesAre413BeforeTheyAreRead) {
  const std::string a = AddDevice("a", "lab");
  for (const auto& [target, size] : std::vector<std::pair<std::string, std::size_t>>{
           {"/v1/device/events", (1u << 20) + 1}, {"/v1/device/inventory", (256u << 10) + 1}}) {
    RawConnection c(port_);
    // Only the header is sent: the answer must come without the body.
    c.Send((target.ends_with("events") ? "POST " : "PUT ") + target +
           " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a +
           "\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
    auto r = c.Read(false, 5s);
    ASSERT_TRUE(r.has_value()) << target;
    EXPECT_EQ(r->status, 413) << target;
  }
  // A chunked body is cut off once it passes the limit.
  RawConnection c(port_);
  c.Send("PUT /v1/device/inventory HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a +
         "\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk(64 * 1024, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (int i = 0; i < 5; ++i) {
    c.Send(std::string(size_line) + chunk + "\r\n");
  }
  auto r = c.Read(false, 5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  // Just under the limit is fine.
  json inv = {{"agent_version", "0.1.0"}, {"note", std::string(200 * 1024, 'x')}};
  EXPECT_EQ(Call("PUT", "/v1/device/inventory", a, inv.dump()).status, 200);
}

TEST_F(FleetApiTest, SqlInjectionAttemptsAreInert) {
  AddDevice("a", "lab");
  AddDevice("b", "lab");
  EXPECT_EQ(
      Call("POST", "/v1/devices", kOperator, json{{"id", "x'); DROP TABLE devices; --"}}.dump())
          .status,
      400);
  EXPECT_EQ(
      Call("POST", "/v1/devices", kOperator, json{{"id", "c"}, {"tags", {"' OR '1'='1"}}}.dump())
          .status,
      400);
  EXPECT_EQ(Call("GET", "/v1/devices/a'%20OR%20'1'%3D'1", kOperator).status, 404);
  EXPECT_EQ(Call("POST", "/v1/devices/a'%20OR%20'1'%3D'1/revoke", kOperator).status, 404);
  EXPECT_EQ(
      Call("GET", "/v1/deployments/d-1'%3B%20DELETE%20FROM%20deployments%3B--", kOperator).status,
      404);
  auto filtered = json::parse(Call("GET", "/v1/devices?tag=%27%20OR%201%3D1%20--", kOperator).body);
  EXPECT_TRUE(filtered["devices"].empty());
  EXPECT_EQ(Call("POST", "/v1/deployments", kOperator,
                 json{{"app", "web"}, {"version", "1.0.0"}, {"tags", {"lab' OR 1=1 --"}}}.dump())
                .status,
            400);
  const auto all = json::parse(Call("GET", "/v1/devices", kOperator).body);
  ASSERT_EQ(all["devices"].size(), 2u);
  EXPECT_FALSE(all["devices"][0]["revoked"].get<bool>());
  EXPECT_FALSE(all["devices"][1]["revoked"].get<bool>());
}

TEST_F(FleetApiTest, MalformedBodiesAre400) {
  const std::string a = AddDevice("a", "lab");
  EXPECT_EQ(Call("POST", "/v1/device/events", a, "not json").status, 400);
  EXPECT_EQ(Call("POST", "/v1/device/events", a, std::string(1000, '[')).status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/device/events", a, R"([{"sequence":"1","kind":"trial","app":"w"}])").status,
      400);
  clock_.Advance(10s);
  EXPECT_EQ(Call("PUT", "/v1/device/inventory", a, "[1]").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/device/inventory", a, R"({"free_bytes":-1})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/deployments", kOperator, R"({"app":"web"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/deployments/d-1/launch", kOperator).status, 404);
}

TEST_F(FleetApiTest, AssignmentHasAnETagAndAnswers304WhileUnchanged) {
  const std::string a = AddDevice("a", "lab");
  auto first = Call("GET", "/v1/device/assignment", a);
  ASSERT_EQ(first.status, 200);
  const std::string etag = first.Header("etag");
  ASSERT_FALSE(etag.empty());
  auto again = Call("GET", "/v1/device/assignment", a, "", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(again.Header("etag"), etag);
  EXPECT_TRUE(again.body.empty());

  ASSERT_EQ(Call("POST", "/v1/deployments", kOperator,
                 json{{"app", "web"}, {"version", "2.0.0"}, {"devices", {"a"}}}.dump())
                .status,
            201);
  auto changed = Call("GET", "/v1/device/assignment", a, "", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(changed.status, 200);
  EXPECT_NE(changed.Header("etag"), etag);
  const auto body = json::parse(changed.body);
  EXPECT_EQ(
      body["apps"][0],
      (json{{"app", "web"}, {"version", "2.0.0"}, {"deployment", "d-1"}, {"downgrade", false}}));
  // A deployment that retries a release devices marked bad says so in their assignment.
  ASSERT_EQ(
      Call(
          "POST", "/v1/deployments", kOperator,
          json{{"app", "db"}, {"version", "1.0.0"}, {"devices", {"a"}}, {"retry_bad", true}}.dump())
          .status,
      201);
  const auto retried = json::parse(Call("GET", "/v1/device/assignment", a).body);
  ASSERT_EQ(retried["apps"].size(), 2u) << retried.dump();
  EXPECT_EQ(retried["apps"][0]["app"], "db");
  EXPECT_EQ(retried["apps"][0]["retry_bad"], true);
  EXPECT_FALSE(retried["apps"][1].contains("retry_bad"));
}

TEST_F(FleetApiTest, EventsAreAcknowledgedUpToTheHighestSequence) {
  const std::string a = AddDevice("a", "lab");
  const auto ev = [](int seq, const char* kind) {
    return json{{"sequence", seq}, {"kind", kind}, {"app", "web"}, {"version", "2.0.0"}};
  };
  auto r = Call("POST", "/v1/device/events", a,
                json{{"events", {ev(1, "downloading"), ev(2, "staging")}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), (json{{"stored", 2}, {"duplicates", 0}, {"highest_sequence", 2}}));
  r = Call("POST", "/v1/device/events", a, json::array({ev(2, "staging"), ev(3, "trial")}).dump());
  EXPECT_EQ(json::parse(r.body), (json{{"stored", 1}, {"duplicates", 1}, {"highest_sequence", 3}}));
}

TEST_F(FleetApiTest, OperatorDrivesARolloutOverHttp) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 10; ++i) {
    tokens.push_back(AddDevice("dev-" + std::to_string(i), "lab"));
  }
  auto created = Call("POST", "/v1/deployments", kOperator,
                      json{{"app", "web"},
                           {"version", "2.0.0"},
                           {"tags", {"lab"}},
                           {"phases", {10, 100}},
                           {"phase_wait_seconds", 600}}
                          .dump());
  ASSERT_EQ(created.status, 201) << created.body;
  auto d = json::parse(created.body)["deployment"];
  EXPECT_EQ(d["released"], 1);
  EXPECT_EQ(d["phase_wait_seconds"], 600);
  EXPECT_EQ(json::parse(Call("POST", "/v1/deployments/d-1/pause", kOperator, R"({"reason":"hold"})")
                            .body)["deployment"]["state"],
            "paused");
  EXPECT_EQ(Call("POST", "/v1/deployments/d-1/promote", kOperator).status, 409);
  EXPECT_EQ(Call("POST", "/v1/deployments/d-1/resume", kOperator).status, 200);
  EXPECT_EQ(
      json::parse(
          Call("POST", "/v1/deployments/d-1/promote", kOperator).body)["deployment"]["released"],
      10);
  auto reverted = Call("POST", "/v1/deployments/d-1/revert", kOperator, R"({"version":"1.0.0"})");
  ASSERT_EQ(reverted.status, 201) << reverted.body;
  EXPECT_TRUE(json::parse(reverted.body)["deployment"]["downgrade"].get<bool>());
  auto a = json::parse(Call("GET", "/v1/device/assignment", tokens[3]).body);
  EXPECT_EQ(a["apps"][0]["version"], "1.0.0");
  EXPECT_TRUE(a["apps"][0]["downgrade"].get<bool>());
  EXPECT_EQ(Call("POST", "/v1/deployments/d-1/abort", kOperator).status, 409);
  const auto list = json::parse(Call("GET", "/v1/deployments", kOperator).body);
  ASSERT_EQ(list["deployments"].size(), 2u);
  EXPECT_EQ(list["deployments"][0]["id"], "d-2");
  EXPECT_EQ(list["deployments"][1]["state"], "aborted");
}

TEST_F(FleetApiTest, GuessingOnOneConnectionGetsNo200OnceTheBudgetIsSpentAndIsCutOff) {
  // Guesses pipelined on one connection, the real token last: the budget (5 here) is checked
  // before any token is compared, and the first 429 ends the connection. (Few enough to reach
  // the server in one read, so that its close is a clean one and every reply can be read.)
  RawConnection c(port_);
  std::string pipeline;
  for (int i = 0; i < 40; ++i) {
    pipeline += "GET /v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess-" +
                std::to_string(i) + "\r\n\r\n";
  }
  pipeline += std::string("GET /v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") +
              kOperator + "\r\n\r\n";
  c.Send(pipeline);
  std::map<int, int> statuses;
  while (auto r = c.Read(false, 5s)) {
    ++statuses[r->status];
    if (r->status == 429) {
      EXPECT_FALSE(r->Header("retry-after").empty());
      EXPECT_EQ(r->Header("connection"), "close");
    }
  }
  EXPECT_EQ(statuses[401], 5);
  EXPECT_EQ(statuses[429], 1);
  EXPECT_EQ(statuses[200], 0);
  EXPECT_EQ(statuses.size(), 3u);
  // A new connection with the right token is still refused, until the budget refills.
  auto locked = Call("GET", "/v1/devices", kOperator);
  EXPECT_EQ(locked.status, 429);
  clock_.Advance(1s);
  EXPECT_EQ(Call("GET", "/v1/devices", kOperator).status, 200);
}

TEST_F(FleetApiTest, UnknownAndRevokedTokensGetTheSameAnswer) {
  const std::string token = AddDevice("a", "lab");
  ASSERT_EQ(Call("POST", "/v1/devices/a/revoke", kOperator).status, 200);
  const auto revoked = Call("GET", "/v1/device/assignment", token);
  const auto unknown = Call("GET", "/v1/device/assignment", "fdt_" + std::string(64, '0'));
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(revoked.body, unknown.body);
}

TEST_F(FleetApiTest, HeadOnAFleetRouteIsAnsweredAsGetWithoutABody) {
  const std::string a = AddDevice("a", "lab");
  RawConnection c(port_);
  c.Send("HEAD /v1/device/assignment HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a +
         "\r\n\r\n");
  auto r = c.Read(/*head=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_FALSE(r->Header("etag").empty());
  // What a 405 offers is what works.
  auto wrong = Call("POST", "/v1/device/assignment", a, "{}");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.Header("allow"), "GET, HEAD");
}

TEST_F(FleetApiTest, EventFieldsAreCheckedBeforeTheyAreStored) {
  const std::string a = AddDevice("a", "lab");
  const auto post = [&](json event) {
    clock_.Advance(1s);
    event.merge_patch(json{{"kind", "trial"}, {"app", "web"}});
    return Call("POST", "/v1/device/events", a, json::array({event}).dump());
  };
  EXPECT_EQ(post({{"sequence", 1}, {"version", "1.0"}}).status, 400);
  EXPECT_EQ(post({{"sequence", 1}, {"time", -1}}).status, 400);
  EXPECT_EQ(post({{"sequence", 1}, {"time", 0}}).status, 400);
  EXPECT_EQ(post({{"sequence", std::int64_t{9223372036854775807}}}).status, 400);
  EXPECT_EQ(post({{"sequence", std::uint64_t{18446744073709551615u}}}).status, 400);
  EXPECT_EQ(post({{"sequence", 1}, {"deployment", "x-1"}}).status, 400);
  auto good = post({{"sequence", kMaxEventSequence},
                    {"version", "1.0.0-rc.1"},
                    {"deployment", "d-9"},
                    {"time", 1763870000}});
  EXPECT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(json::parse(good.body)["highest_sequence"], kMaxEventSequence);
}

TEST_F(FleetApiTest, AFloodOfEventsStaysWithinTheDevicesQuotaAndDeploymentCountsStayExact) {
  const std::string a = AddDevice("a", "lab");
  AddDevice("b", "lab");
  ASSERT_EQ(Call("POST", "/v1/deployments", kOperator,
                 json{{"app", "web"}, {"version", "2.0.0"}, {"tags", {"lab"}}}.dump())
                .status,
            201);
  const std::string reason(2000, 'r');
  std::int64_t sequence = 0;
  const auto batch = [&](std::size_t n, const char* kind) {
    json events = json::array();
    for (std::size_t i = 0; i < n; ++i) {
      events.push_back({{"sequence", ++sequence},
                        {"kind", kind},
                        {"app", "web"},
                        {"version", "2.0.0"},
                        {"deployment", "d-1"},
                        {"reason", reason}});
    }
    return Call("POST", "/v1/device/events", a, events.dump());
  };
  // Rate: a full batch spends the burst; the next is refused until the events refill.
  ASSERT_EQ(batch(400, "downloading").status, 200);
  ASSERT_EQ(batch(400, "staging").status, 200);
  clock_.Advance(1s);
  auto refused = batch(400, "trial");
  EXPECT_EQ(refused.status, 429);
  EXPECT_FALSE(refused.Header("retry-after").empty());
  sequence -= 400;
  // Count and bytes: 4,000 events of 2 KB each against 1,000 events / 1 MiB kept.
  for (int round = 0; round < 8; ++round) {
    clock_.Advance(1000s);
    const auto r = batch(400, round == 7 ? "committed" : "trial");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["highest_sequence"], sequence);
  }
  auto retention = fleet_->DeviceEventRetention("a").value();
  EXPECT_LE(retention.kept_events, 1000);
  EXPECT_LE(retention.kept_bytes, 1 << 20);
  EXPECT_GT(retention.kept_events, 0);
  EXPECT_EQ(retention.kept_events + retention.compacted_events, sequence);
  std::int64_t by_kind = 0;
  for (const auto& [kind, count] : retention.compacted_by_kind) {
    by_kind += count;
  }
  EXPECT_EQ(by_kind, retention.compacted_events);
  EXPECT_EQ(retention.compacted_by_kind["downloading"], 400);
  // The deployment's tallies are exact: a committed, b still pending.
  clock_.Advance(1s);
  const auto d = json::parse(Call("GET", "/v1/deployments/d-1", kOperator).body)["deployment"];
  EXPECT_EQ(d["counts"]["committed"], 1) << d.dump();
  EXPECT_EQ(d["counts"]["pending"], 1) << d.dump();
  EXPECT_EQ(d["counts"]["installing"], 0) << d.dump();
  // A compacted sequence sent again is a duplicate, never stored twice.
  clock_.Advance(1000s);
  const std::int64_t highest = sequence;
  sequence = 0;
  const auto again = batch(1, "failed");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body),
            (json{{"stored", 0}, {"duplicates", 1}, {"highest_sequence", highest}}));
  // The operator sees the figures.
  const auto shown = json::parse(Call("GET", "/v1/devices/a", kOperator).body);
  EXPECT_EQ(shown["device"]["event_retention"]["compacted_events"], retention.compacted_events);
}

TEST(CheckOperatorToken, RefusesTokensUnder128BitsAndNamesAGenerator) {
  for (const char* weak : {"", "ab", "operator-secret-token", "0123456789abcdef0123456789abcde",
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    const auto st = CheckOperatorToken(weak);
    ASSERT_FALSE(st.has_value()) << weak;
    EXPECT_NE(st.error().message().find("openssl rand -hex 32"), std::string::npos);
  }
  EXPECT_TRUE(CheckOperatorToken("0123456789abcdef0123456789abcdef").has_value());
  EXPECT_TRUE(CheckOperatorToken("Zx9-Qr7_Lm2+Nb5/Kd8=Wt").has_value());
}

}  // namespace
}  // namespace ferry::fleet
