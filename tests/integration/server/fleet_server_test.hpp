// A test fixture with the real ferry-server and its fleet API on loopback: a fleet database and
// an operator token in the test's directory, and `ferry-server admin` as the operator's hand.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/server/server_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {

class FleetServerTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Starts ferry-server with the fleet API, logging to `log` in the test's directory, with
  // `extra` options (TLS, rate limits). `scheme` is "https" when `extra` turns TLS on.
  void StartFleetServer(const std::vector<std::string>& extra = {},
                        const std::string& log = "server.log", const std::string& scheme = "http");

  // `ferry-server admin --url URL --token-file TOKEN` + admin_options_ + `args`, with the
  // operator's token or `token_file`.
  RunResult Admin(std::vector<std::string> args, const std::string& token_file = "");
  // Admin with --json; expects success and returns the parsed output.
  nlohmann::json AdminJson(std::vector<std::string> args);
  // Provisions device `id` and returns its token.
  std::string AddDevice(const std::string& id);

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  // A text file's contents without its trailing newlines.
  static std::string ReadText(const std::filesystem::path& path);

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string url_;
  std::vector<std::string> admin_options_;  // for every admin command: --ca-file, ...
};

}  // namespace ferry::testing
