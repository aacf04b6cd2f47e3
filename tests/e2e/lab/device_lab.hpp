// A device in a temp dir for end-to-end tests: releases of a busybox httpd app made by
// ferry-publish (good ones and bad ones), ferryd on real runc, the ferry CLI, and ferry-server in
// front of the repository and the fleet API. Needs root, runc and busybox-static.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {

// A free TCP port on 127.0.0.1 for the app under test.
int FreePort();

class DeviceLab : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string Keys() const { return (dir_ / "keys").string(); }
  std::filesystem::path Repo() const { return dir_ / "repo"; }

  RunResult Publish(std::vector<std::string> args);

  // Publishes version `v` of the web app. `kind`: "good"; or a bad one: "exits" at once, "500"
  // (serves, but its health endpoint fails), "hangs" (never listens), "crashes" (runs a second,
  // then dies: no restart policy hides a crash loop from the trial). "idle" sleeps with a process
  // health check and no port, "idle-crashes" exits soon. "chatty" serves like "good" and writes
  // "web says hello" to stdout, "web warns" to stderr, then "tick N" every 200 ms. "slow-probe"
  // serves like "good", but each probe of its (exec) health check takes 20 s. Also makes its
  // bundle.
  // With `downgrade`, the release is signed as an allowed downgrade.
  // "serves-2s" serves for 2 s, then exits with status 3 (each time it starts); "sickens" serves,
  // and its health endpoint answers 500 from 3 s after each start on.
  // `health` keys are merged into its health check (e.g. probation_s, healthy_for_s).
  void Release(const std::string& v, const std::string& kind = "good", bool downgrade = false,
               const nlohmann::json& health = nlohmann::json::object());
  std::string Bundle(const std::string& v) const { return (dir_ / (v + ".bundle")).string(); }

  // Starts ferryd with `extra_config` appended to the top-level keys of its configuration.
  void StartFerryd(const std::map<std::string, std::string>& env = {},
                   const std::string& extra_config = "");
  RunResult Ferry(std::vector<std::string> args);
  nlohmann::json Status();
  std::string CurrentVersion();
  std::string Page();
  std::vector<std::string> Containers();
  std::string Log();

  // The one oracle of the crash tests (tests/campaign/oracle.py, docs/testing.md §9): waits
  // until ferryd has finished its start-up recovery and any update or rollback (up to a minute),
  // then returns every broken invariant of the device, one sentence each (empty: all hold). The
  // unpacked layers are compared byte for byte with the tars of the repository's layer blobs.
  // `page`: what the app must serve (default: "version <current version>").
  std::vector<std::string> OracleProblems(const std::string& page = "");
  // EXPECTs that OracleProblems(page) is empty, naming each problem, with ferryd's log.
  void ExpectOracleHolds(const std::string& page = "");

  // ferry-server serving the repository, and with `fleet` the fleet API (operator token in
  // OperatorToken()).
  void StartServer(bool fleet, const std::vector<std::string>& extra = {});
  std::string ServerUrl() const;
  // Requests in ferry-server's log ("PEER METHOD TARGET STATUS ...") whose target starts with
  // `path`.
  std::size_t ServerRequests(const std::string& method, const std::string& path) const;
  // Waits until ferry-server has logged `more` such requests after the first `seen`: a condition
  // to wait for where a test would otherwise sleep through "a few polls". False after `timeout`.
  bool WaitForServerRequests(const std::string& method, const std::string& path, std::size_t seen,
                             std::size_t more, std::chrono::milliseconds timeout) const;
  std::filesystem::path OperatorToken() const { return dir_ / "operator-token"; }
  // `ferry-server admin --url … --token-file … ARGS`.
  RunResult Admin(std::vector<std::string> args);
  // Adds device `id` (with `tags`) and writes its token to `token_file`.
  void Provision(const std::string& id, const std::filesystem::path& token_file,
                 const std::vector<std::string>& tags = {});

  TempDir dir_;
  int port_ = 0;
  // What Release puts in the next releases: this many bytes of data in 1 MiB files under /data
  // (each a 64 KiB random block repeated, so that publishing stays quick; the same in every
  // release), the trial's deadline of the http health check, and whether to publish deltas.
  std::uint64_t payload_bytes_ = 0;
  int trial_deadline_s_ = 5;
  bool deltas_ = true;
  // Appended to ferryd's [runtime] table by StartFerryd (e.g. `rootfs = "hardlink"`).
  std::string runtime_config_;
  // The containers' cgroup parent, this lab's own: the oracle finds no other device's cgroups
  // under it, and TearDown removes it.
  std::string cgroup_parent_;
  std::unique_ptr<Child> ferryd_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace ferry::testing
