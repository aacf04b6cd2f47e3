#include "integration/server/fleet_server_test.hpp"

#include <fstream>
#include <sstream>

namespace ferry::testing {

void FleetServerTest::SetUp() {
  std::filesystem::create_directories(dir_ / "repo");
  WriteFile(dir_ / "operator.token",
            "8f2c1d9e4b7a6053f1e2d3c4b5a69788e7d6c5b4a3928170f6e5d4c3b2a19080\n");
}

void FleetServerTest::StartFleetServer(const std::vector<std::string>& extra,
                                       const std::string& log, const std::string& scheme) {
  std::vector<std::string> args = {"--fleet-db", Path("fleet.db"), "--operator-token-file",
                                   Path("operator.token")};
  args.insert(args.end(), extra.begin(), extra.end());
  server_ = std::make_unique<ServerProcess>(dir_ / "repo", args, dir_ / log);
  ASSERT_NE(server_->port(), 0);
  url_ = scheme + "://127.0.0.1:" + std::to_string(server_->port());
}

RunResult FleetServerTest::Admin(std::vector<std::string> args, const std::string& token_file) {
  std::vector<std::string> argv = {BuiltProgram("ferry-server").string(),
                                   "admin",
                                   "--url",
                                   url_,
                                   "--token-file",
                                   token_file.empty() ? Path("operator.token") : token_file};
  argv.insert(argv.end(), admin_options_.begin(), admin_options_.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return ::ferry::testing::Run(argv);
}

nlohmann::json FleetServerTest::AdminJson(std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  const RunResult r = Admin(std::move(args));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::string FleetServerTest::AddDevice(const std::string& id) {
  const auto token_file = dir_ / (id + ".token");
  const RunResult r = Admin({"devices", "add", id, "--token-out", token_file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return ReadText(token_file);
}

std::string FleetServerTest::ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

}  // namespace ferry::testing
