// The app configs that docs/repository.md shows are published here as written: a documented
// example that ferry-publish refuses is a broken promise to the operator who copies it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ferry/core/fs.hpp"
#include "publish_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish::testing {
namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::json;

// The ```json blocks that follow a "<!-- app-config example -->" line in `markdown`.
std::vector<std::string> AppConfigExamples(const std::string& markdown) {
  std::vector<std::string> out;
  const std::string marker = "<!-- app-config example -->";
  for (std::size_t at = markdown.find(marker); at != std::string::npos;
       at = markdown.find(marker, at + 1)) {
    const std::size_t open = markdown.find("```json\n", at);
    const std::size_t close = markdown.find("\n```", open + 8);
    if (open == std::string::npos || close == std::string::npos) {
      break;
    }
    out.push_back(markdown.substr(open + 8, close - open - 8));
  }
  return out;
}

TEST(DocsExamples, EveryAppConfigInRepositoryMdIsPublishedAsWritten) {
  ferry::testing::TempDir tmp;
  auto doc = fs::ReadFile(stdfs::path(FERRY_SOURCE_DIR) / "docs" / "repository.md");
  ASSERT_TRUE(doc) << doc.error().message();
  const auto examples = AppConfigExamples(*doc);
  ASSERT_GE(examples.size(), 5u) << "the app config examples lost their markers";

  // The whole example shows every key the table documents, and every health check key is shown
  // by one example or another.
  const Json whole = Json::parse(examples[0]);
  std::set<std::string> keys;
  for (const auto& [k, v] : whole.items()) {
    keys.insert(k);
  }
  EXPECT_EQ(keys, (std::set<std::string>{"entrypoint", "cmd", "env", "working_dir", "user", "ports",
                                         "labels", "volumes", "capabilities", "resources",
                                         "read_only_rootfs", "health", "min_from_version"}));
  std::set<std::string> kinds;
  for (const auto& text : examples) {
    const Json config = Json::parse(text);
    if (config.contains("health") && config["health"].is_object()) {
      kinds.insert(config["health"].value("kind", ""));
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"process", "http", "tcp", "exec"}));

  auto init =
      Publish({"init", "--repo", (tmp / "repo").string(), "--keys", (tmp / "keys").string()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  MakeRootfs(tmp / "rootfs", 1);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    SCOPED_TRACE("example " + std::to_string(i + 1) + ":\n" + examples[i]);
    const std::string app = "example" + std::to_string(i + 1);
    const auto config = tmp / (app + ".json");
    WriteFile(config, examples[i]);
    auto r = Publish({"release", "--repo", (tmp / "repo").string(), "--keys",
                      (tmp / "keys").string(), "--app", app, "--version", "2.0.0", "--image",
                      (tmp / "rootfs").string(), "--app-config", config.string(), "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    // What was signed is what the example asked for.
    const manifest::Manifest m = LoadManifest(tmp / "repo", app, "2.0.0");
    const Json asked = Json::parse(examples[i]);
    if (asked.contains("health") && asked["health"].is_object()) {
      ASSERT_TRUE(m.config.health.has_value()) << examples[i];
      EXPECT_EQ(manifest::KindName(m.config.health->kind), asked["health"].value("kind", ""));
    }
    if (asked.contains("cmd")) {
      EXPECT_EQ(m.config.cmd, asked["cmd"].get<std::vector<std::string>>());
    }
  }
}

}  // namespace
}  // namespace ferry::publish::testing
