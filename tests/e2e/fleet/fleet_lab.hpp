// What the fleet e2e tests of one device share: "dev-1", provisioned on ferry-server and polling it
// every second, and the operator's view of its deployments.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "device_lab.hpp"

namespace ferry::testing {

class FleetLab : public DeviceLab {
 protected:
  std::string ServerLog() { return server_ ? server_->Log() : ""; }

  // ferryd of dev-1 (provisioned on first use), polling every second.
  void StartFleetDevice() {
    if (!std::filesystem::exists(dir_ / "device-token")) {
      Provision("dev-1", dir_ / "device-token");
    }
    StartFerryd({}, "server_url = \"" + ServerUrl() + "\"\ndevice_token_file = \"" +
                        (dir_ / "device-token").string() + "\"\npoll_interval = \"1s\"\n");
  }

  // `deploy status ID`, or null when the command fails.
  nlohmann::json Deployment(const std::string& id) {
    auto r = Admin({"--json", "deploy", "status", id});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["deployment"] : nlohmann::json();
  }

  // Deploys web `version` to dev-1; returns the deployment's id, "" when refused.
  std::string Deploy(const std::string& version, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--json",    "deploy", "create",   "--app", "web",
                                     "--version", version,  "--device", "dev-1"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["deployment"]["id"].get<std::string>()
                            : "";
  }

  // Waits up to a minute for dev-1 to reach `state` in deployment `id`.
  bool DeploymentReaches(const std::string& id, const std::string& state) {
    return WaitFor(
        [&] {
          nlohmann::json d = Deployment(id);
          return d.is_object() && d["counts"].value(state, 0) == 1;
        },
        std::chrono::seconds(60));
  }
};

}  // namespace ferry::testing
