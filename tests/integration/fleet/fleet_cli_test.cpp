// The real ferry-server with the fleet API on loopback, driven by `ferry-server admin` (the
// operator) and raw HTTP (the devices).
#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>

#include "integration/server/fleet_server_test.hpp"
#include "integration/server/raw_http.hpp"

namespace ferry::testing {
namespace {

using json = nlohmann::json;

class FleetCliTest : public FleetServerTest {
 protected:
  void SetUp() override {
    FleetServerTest::SetUp();
    Start();
  }

  void Start(const std::string& log = "server.log") { StartFleetServer({}, log); }

  std::optional<RawResponse> Device(const std::string& method, const std::string& path,
                                    const std::string& token, const std::string& body = "") {
    RawConnection c(server_->port());
    c.Send(method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
           "Authorization: Bearer " + token + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body);
    return c.Read();
  }
};

TEST_F(FleetCliTest, OperatorProvisionsRollsOutWatchesAndReverts) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 10; ++i) {
    const std::string id = "dev-" + std::to_string(i);
    const auto token_file = dir_ / (id + ".token");
    const RunResult r =
        Admin({"devices", "add", id, "--tag", "lab", "--token-out", token_file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("token: fdt_"), std::string::npos) << r.out;
    tokens.push_back(ReadText(token_file));
    EXPECT_NE(r.out.find(tokens.back()), std::string::npos);
    EXPECT_EQ(
        std::filesystem::status(token_file).permissions() & std::filesystem::perms::others_read,
        std::filesystem::perms::none);
  }
  const RunResult listed = Admin({"devices", "list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("ID     TAGS  LAST SEEN  STATE"), std::string::npos) << listed.out;

  json created = AdminJson({"deploy", "create", "--app", "web", "--version", "2.0.0", "--tag",
                            "lab", "--phases", "10,100", "--max-failure-ratio", "0.5"});
  ASSERT_EQ(created["deployment"]["id"], "d-1");
  EXPECT_EQ(created["deployment"]["released"], 1);

  // Exactly one device is in the first phase; it installs and reports.
  int assigned = 0;
  int seq = 0;
  for (const auto& token : tokens) {
    auto r = Device("GET", "/v1/device/assignment", token);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, 200);
    const json body = json::parse(r->body);
    if (body["apps"].empty()) {
      continue;
    }
    ++assigned;
    EXPECT_EQ(body["apps"][0]["version"], "2.0.0");
    const json events = json::array(
        {{{"sequence", ++seq}, {"kind", "downloading"}, {"app", "web"}, {"version", "2.0.0"}},
         {{"sequence", ++seq}, {"kind", "committed"}, {"app", "web"}, {"version", "2.0.0"}}});
    auto ack = Device("POST", "/v1/device/events", token, events.dump());
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(json::parse(ack->body)["highest_sequence"], seq);
    auto inv = Device("PUT", "/v1/device/inventory", token,
                      R"({"apps":[{"app":"web","version":"2.0.0"}],"free_bytes":1000})");
    EXPECT_EQ(inv->status, 200);
  }
  EXPECT_EQ(assigned, 1);

  const RunResult status = Admin({"deploy", "status", "d-1"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("committed    1"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("1 released of 10 targeted"), std::string::npos) << status.out;

  EXPECT_EQ(AdminJson({"deploy", "pause", "d-1", "--reason",
                       "check dashboards"})["deployment"]["pause_reason"],
            "check dashboards");
  const RunResult promote_paused = Admin({"deploy", "promote", "d-1"});
  EXPECT_EQ(promote_paused.exit_code, 1);
  EXPECT_NE(promote_paused.err.find("HTTP 409"), std::string::npos) << promote_paused.err;
  EXPECT_EQ(Admin({"deploy", "resume", "d-1"}).exit_code, 0);
  EXPECT_EQ(AdminJson({"deploy", "promote", "d-1"})["deployment"]["released"], 10);
  const RunResult list = Admin({"deploy", "list"});
  EXPECT_NE(list.out.find("d-1  web  2.0.0    active  2/2 (100%)  10/10    1          0"),
            std::string::npos)
      << list.out;

  json reverted = AdminJson({"deploy", "revert", "d-1", "--version", "1.9.0"});
  EXPECT_EQ(reverted["deployment"]["id"], "d-2");
  EXPECT_TRUE(reverted["deployment"]["downgrade"].get<bool>());
  auto a = Device("GET", "/v1/device/assignment", tokens[4]);
  EXPECT_EQ(
      json::parse(a->body)["apps"][0],
      (json{{"app", "web"}, {"version", "1.9.0"}, {"deployment", "d-2"}, {"downgrade", true}}));

  const RunResult show = Admin({"devices", "show", "dev-4"});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("web  1.9.0    d-2         yes"), std::string::npos) << show.out;

  ASSERT_EQ(Admin({"devices", "revoke", "dev-4"}).exit_code, 0);
  EXPECT_EQ(Device("GET", "/v1/device/assignment", tokens[4])->status, 401);
  EXPECT_EQ(
      AdminJson({"devices", "tag", "dev-5", "--add", "north", "--remove", "lab"})["device"]["tags"],
      json::array({"north"}));
}

TEST_F(FleetCliTest, ExitCodesTellUsageServerAndReachabilityApart) {
  EXPECT_EQ(Admin({"deploy"}).exit_code, 2);
  EXPECT_EQ(Admin({"deploy", "create", "--app", "web"}).exit_code, 2);
  EXPECT_EQ(Admin({"deploy", "create", "--app", "web", "--version", "1.0.0", "--tag", "x",
                   "--phase-wait", "ten minutes"})
                .exit_code,
            2);
  const RunResult missing = Admin({"deploy", "status", "d-404"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("HTTP 404: no deployment \"d-404\""), std::string::npos)
      << missing.err;
  WriteFile(dir_ / "wrong.token", "not-the-operator\n");
  const RunResult wrong = Admin({"devices", "list"}, (dir_ / "wrong.token").string());
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("HTTP 401"), std::string::npos) << wrong.err;

  server_->child().Signal(SIGTERM);
  EXPECT_EQ(server_->child().Wait(std::chrono::seconds(10)), 0);
  const RunResult down = Admin({"devices", "list"});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down.err;
}

TEST_F(FleetCliTest, FleetStateSurvivesARestart) {
  ASSERT_EQ(
      Admin({"devices", "add", "keeper", "--token-out", (dir_ / "k.token").string()}).exit_code, 0);
  ASSERT_EQ(Admin({"deploy", "create", "--app", "web", "--version", "3.1.4", "--device", "keeper"})
                .exit_code,
            0);
  server_->child().Signal(SIGTERM);
  ASSERT_EQ(server_->child().Wait(std::chrono::seconds(10)), 0);
  Start("server-again.log");
  auto r = Device("GET", "/v1/device/assignment", ReadText(dir_ / "k.token"));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["apps"][0]["version"], "3.1.4");
}

}  // namespace
}  // namespace ferry::testing
