#include "server-mock/ferry-publish/app_config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "ferry/manifest/health_check.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish {
namespace {

using nlohmann::json;

TEST(BuildRuntimeConfig, ImportsTheImageConfig) {
  const json image{{"Entrypoint", {"/bin/app"}},
                   {"Cmd", {"--serve"}},
                   {"Env", {"A=1"}},
                   {"WorkingDir", ""},
                   {"User", "1000:1001"},
                   {"ExposedPorts", {{"443/tcp", json::object()}, {"443/udp", json::object()}}},
                   {"Volumes", {{"/Data", json::object()}, {"/data", json::object()}}},
                   {"Labels", {{"team", "ops"}}}};
  auto c = BuildRuntimeConfig(image, {});
  ASSERT_TRUE(c.has_value()) << c.error().String();
  EXPECT_EQ((*c)["entrypoint"], json({"/bin/app"}));
  EXPECT_EQ((*c)["cmd"], json({"--serve"}));
  EXPECT_EQ((*c)["working_dir"], "/");
  EXPECT_EQ((*c)["user"], "1000:1001");
  EXPECT_EQ((*c)["ports"], json({443})) << "one port for tcp and udp";
  ASSERT_EQ((*c)["volumes"].size(), 2u);
  EXPECT_NE((*c)["volumes"][0]["name"], (*c)["volumes"][1]["name"]) << "names stay unique";
  EXPECT_EQ((*c)["labels"]["team"], "ops");
  EXPECT_FALSE(c->contains("health"));
}

TEST(BuildRuntimeConfig, MapsDockerHealthchecks) {
  auto cmd = BuildRuntimeConfig(
      {{"Cmd", {"x"}}, {"Healthcheck", {{"Test", {"CMD", "/bin/check", "-q"}}}}}, {});
  ASSERT_TRUE(cmd.has_value());
  // Written in the form ferryd reads: Docker's defaults, retries as consecutive failures.
  const json& h = (*cmd)["health"];
  EXPECT_EQ(h["kind"], "exec");
  EXPECT_EQ(h["command"], json({"/bin/check", "-q"}));
  EXPECT_EQ(h["interval_s"], 30.0);
  EXPECT_EQ(h["timeout_s"], 30.0);
  EXPECT_EQ(h["start_period_s"], 0.0);
  EXPECT_EQ(h["failures"], 3);
  auto parsed = manifest::ParseHealthCheck(h);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->command, (std::vector<std::string>{"/bin/check", "-q"}));
  auto none = BuildRuntimeConfig({{"Cmd", {"x"}}, {"Healthcheck", {{"Test", {"NONE"}}}}}, {});
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->contains("health"));
  // Sub-second intervals are kept as they are.
  auto rounded = BuildRuntimeConfig(
      {{"Cmd", {"x"}},
       {"Healthcheck", {{"Test", {"CMD-SHELL", "true"}}, {"Interval", 1'500'000'000LL}}}},
      {});
  ASSERT_TRUE(rounded.has_value());
  EXPECT_EQ((*rounded)["health"]["interval_s"], 1.5);
  EXPECT_EQ((*rounded)["health"]["command"], json({"/bin/sh", "-c", "true"}));
  auto bad = BuildRuntimeConfig({{"Healthcheck", {{"Test", {"WHAT"}}}}}, {});
  EXPECT_FALSE(bad.has_value());
}

TEST(BuildRuntimeConfig, UserNamesNeedTheAppConfig) {
  auto named = BuildRuntimeConfig({{"User", "nobody"}}, {});
  ASSERT_FALSE(named.has_value());
  EXPECT_NE(named.error().message().find("nobody"), std::string::npos);
  AppConfig app;
  app.overrides["user"] = "65534:65534";
  auto fixed = BuildRuntimeConfig({{"User", "nobody"}}, app);
  ASSERT_TRUE(fixed.has_value());
  EXPECT_EQ((*fixed)["user"], "65534:65534");
  EXPECT_EQ((*BuildRuntimeConfig({{"User", "7"}}, {}))["user"], "7:0");
}

TEST(BuildRuntimeConfig, AppConfigMergesEnvAndLabelsAndReplacesTheRest) {
  AppConfig app;
  app.overrides = {{"env", {"B=2", "A=9"}},
                   {"labels", {{"tier", "edge"}}},
                   {"ports", {8080}},
                   {"health", nullptr}};
  auto c = BuildRuntimeConfig({{"Env", {"A=1", "C=3"}},
                               {"Labels", {{"team", "ops"}}},
                               {"ExposedPorts", {{"80/tcp", json::object()}}},
                               {"Healthcheck", {{"Test", {"CMD", "x"}}}}},
                              app);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ((*c)["env"], json({"A=9", "C=3", "B=2"}));
  EXPECT_EQ((*c)["labels"], json({{"team", "ops"}, {"tier", "edge"}}));
  EXPECT_EQ((*c)["ports"], json({8080}));
  EXPECT_FALSE(c->contains("health"));
}

TEST(LoadAppConfig, RefusesUnknownKeysAndBadTypes) {
  ferry::testing::TempDir tmp;
  auto write = [&](const std::string& text) {
    std::ofstream(tmp / "app.json") << text;
    return LoadAppConfig(tmp / "app.json");
  };
  auto ok = write(R"({"cmd": ["/x"], "min_from_version": "1.0.0"})");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->min_from_version, "1.0.0");
  EXPECT_EQ(ok->overrides, json({{"cmd", {"/x"}}}));
  auto unknown = write(R"({"comand": ["/x"]})");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("unknown key 'comand'"), std::string::npos);
  EXPECT_FALSE(write(R"({"min_from_version": 1})").has_value());
  EXPECT_FALSE(write("[1]").has_value());
  EXPECT_FALSE(write("{").has_value());
  EXPECT_FALSE(LoadAppConfig(tmp / "missing.json").has_value());
}

}  // namespace
}  // namespace ferry::publish
