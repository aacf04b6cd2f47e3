#include "ferry/manifest/manifest.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace ferry::manifest {
namespace {

using Json = nlohmann::json;

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');
const std::string kD = "sha256:" + std::string(64, 'd');

Json Valid() {
  return Json{{"schema", 1},
              {"app", "thermostat"},
              {"version", "1.5.0"},
              {"min_from_version", "1.0.0"},
              {"config",
               {{"entrypoint", {"/bin/busybox", "httpd"}},
                {"cmd", {"-f"}},
                {"env", {"PATH=/bin", "MODE=eco"}},
                {"working_dir", "/srv"},
                {"user", "1000:1000"},
                {"ports", {8080}},
                {"labels", {{"team", "heating"}}},
                {"volumes", {{{"name", "data"}, {"path", "/var/data"}}}},
                {"capabilities", {"NET_BIND_SERVICE"}},
                {"resources", {{"memory_bytes", 67108864}, {"pids", 64}, {"cpu_millis", 500}}},
                {"health", {{"kind", "http"}, {"url", "http://127.0.0.1:8080/"}}}}},
              {"layers",
               {{{"diff_id", kA},
                 {"size", 1000},
                 {"blob", {{"digest", kB}, {"size", 400}}},
                 {"deltas", {{{"from", kC}, {"digest", kD}, {"size", 20}}}}}}}};
}

std::string ErrorOf(const Json& doc) {
  auto m = ParseManifest(doc.dump());
  return m ? "(parsed)" : m.error().message();
}

TEST(Manifest, ParsesEveryField) {
  auto m = ParseManifest(Valid().dump());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->app, "thermostat");
  EXPECT_EQ(m->version.String(), "1.5.0");
  EXPECT_EQ(m->min_from_version->String(), "1.0.0");
  EXPECT_FALSE(m->downgrade);
  EXPECT_EQ(m->config.entrypoint, (std::vector<std::string>{"/bin/busybox", "httpd"}));
  EXPECT_EQ(m->config.user, "1000:1000");
  EXPECT_EQ(m->config.ports, (std::vector<std::uint16_t>{8080}));
  ASSERT_EQ(m->config.volumes.size(), 1u);
  EXPECT_EQ(m->config.volumes[0].path, "/var/data");
  EXPECT_EQ(m->config.resources.pids, 64u);
  EXPECT_TRUE(m->config.read_only_rootfs);
  ASSERT_TRUE(m->config.health.has_value());
  EXPECT_EQ(m->config.health->kind, CheckKind::kHttp);
  EXPECT_EQ(m->config.health->url, "http://127.0.0.1:8080/");
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].blob.size, 400u);
  ASSERT_EQ(m->layers[0].deltas.size(), 1u);
  EXPECT_EQ(m->layers[0].deltas[0].from_diff_id, kC);
}

TEST(Manifest, SerializationRoundTripsAndIsDeterministic) {
  auto m = ParseManifest(Valid().dump());
  ASSERT_TRUE(m);
  const std::string bytes = SerializeManifest(*m);
  auto again = ParseManifest(bytes);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(SerializeManifest(*again), bytes);
  EXPECT_EQ(bytes.find('\n'), std::string::npos);
}

TEST(Manifest, ReadsTheLayersDeclaredFiguresAndKeepsThemSigned) {
  Json doc = Valid();
  doc["layers"][0]["entries"] = 1200;
  doc["layers"][0]["unpacked_size"] = 5'000'000'000ull;
  auto m = ParseManifest(doc.dump());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->layers[0].entries, 1200u);
  EXPECT_EQ(m->layers[0].unpacked_size, 5'000'000'000u);
  auto again = ParseManifest(SerializeManifest(*m));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->layers[0].entries, 1200u);
  EXPECT_EQ(again->layers[0].unpacked_size, 5'000'000'000u);
}

TEST(Manifest, AManifestWithoutDeclaredFiguresStillParsesAndStaysWithoutThem) {
  // Releases published before ferry-publish counted entries and unpacked sizes.
  auto m = ParseManifest(Valid().dump());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_FALSE(m->layers[0].entries.has_value());
  EXPECT_FALSE(m->layers[0].unpacked_size.has_value());
  const std::string bytes = SerializeManifest(*m);
  EXPECT_EQ(bytes.find("entries"), std::string::npos);
  EXPECT_EQ(bytes.find("unpacked_size"), std::string::npos);
}

struct BadCase {
  const char* name;
  std::function<void(Json&)> mutate;
  const char* expected_error;
};

TEST(Manifest, RejectsBadFieldsNamingThem) {
  const BadCase cases[] = {
      {"schema", [](Json& j) { j["schema"] = 2; },
       "manifest schema 2 is not supported (this ferryd reads schema 1)"},
      {"app name", [](Json& j) { j["app"] = "../etc"; }, "app: '../etc' is not a valid app name"},
      {"version", [](Json& j) { j["version"] = "1.5"; },
       "version '1.5': expected MAJOR.MINOR.PATCH"},
      {"unknown top field", [](Json& j) { j["exec_on_host"] = true; },
       "manifest: unknown field 'exec_on_host'"},
      {"no layers", [](Json& j) { j["layers"] = Json::array(); },
       "layers: a release needs at least one layer"},
      {"digest", [](Json& j) { j["layers"][0]["blob"]["digest"] = "sha256:../../etc/passwd"; },
       "layers[0].blob.digest: not a sha256 digest"},
      {"uppercase digest",
       [](Json& j) { j["layers"][0]["diff_id"] = "sha256:" + std::string(64, 'A'); },
       "layers[0].diff_id: not a sha256 digest"},
      {"negative size", [](Json& j) { j["layers"][0]["size"] = -1; },
       "layers[0].size: must be a non-negative integer"},
      {"float size", [](Json& j) { j["layers"][0]["blob"]["size"] = 1.5; },
       "layers[0].blob.size: must be a non-negative integer"},
      {"huge size", [](Json& j) { j["layers"][0]["size"] = 1ull << 60; },
       "layers[0].size: 1152921504606846976 is larger than 9007199254740991"},
      {"negative entries", [](Json& j) { j["layers"][0]["entries"] = -5; },
       "layers[0].entries: must be a non-negative integer"},
      {"unpacked size as text", [](Json& j) { j["layers"][0]["unpacked_size"] = "1GB"; },
       "layers[0].unpacked_size: must be a non-negative integer"},
      {"delta from itself", [](Json& j) { j["layers"][0]["deltas"][0]["from"] = kA; },
       "layers[0].deltas[0].from: a delta from the layer itself"},
      {"volume name", [](Json& j) { j["config"]["volumes"][0]["name"] = "../../root"; },
       "config.volumes[0].name: '../../root' is not a valid volume name"},
      {"volume path", [](Json& j) { j["config"]["volumes"][0]["path"] = "/var/../etc"; },
       "config.volumes[0].path: must be a normalized absolute path below /"},
      {"relative workdir", [](Json& j) { j["config"]["working_dir"] = "srv"; },
       "config.working_dir: must be a normalized absolute path"},
      {"user by name", [](Json& j) { j["config"]["user"] = "root"; },
       "config.user: must be numeric uid:gid"},
      {"env", [](Json& j) { j["config"]["env"][0] = "=x"; }, "config.env[0]: must be KEY=value"},
      {"port", [](Json& j) { j["config"]["ports"][0] = 70000; },
       "config.ports[0]: must be a port 1-65535"},
      {"capability", [](Json& j) { j["config"]["capabilities"][0] = "cap_sys_admin; rm"; },
       "config.capabilities[0]: 'cap_sys_admin; rm' is not a capability name"},
      {"no command",
       [](Json& j) {
         j["config"].erase("entrypoint");
         j["config"].erase("cmd");
       },
       "config: needs an entrypoint or a cmd"},
      {"unknown config field", [](Json& j) { j["config"]["privileged"] = true; },
       "config: unknown field 'privileged'"},
      {"missing blob", [](Json& j) { j["layers"][0].erase("blob"); },
       "missing field layers[0].blob"},
      {"wrong type", [](Json& j) { j["config"]["read_only_rootfs"] = "yes"; },
       "config.read_only_rootfs: must be true or false"},
      // The health check is checked when the manifest is read, before anything is downloaded.
      {"health check key", [](Json& j) { j["config"]["health"]["cmd"] = "true"; },
       "config.health: unknown key \"cmd\""},
      {"health check kind", [](Json& j) { j["config"]["health"]["kind"] = "ping"; },
       "config.health: kind must be one of process, http, tcp, exec"},
      {"health check not an object", [](Json& j) { j["config"]["health"] = "http"; },
       "config.health: must be an object"},
  };
  for (const auto& c : cases) {
    Json doc = Valid();
    c.mutate(doc);
    EXPECT_EQ(ErrorOf(doc), c.expected_error) << c.name;
  }
}

TEST(Manifest, RejectsNonJsonAndOversizedInput) {
  EXPECT_EQ(ParseManifest("{").error().message(), "manifest is not valid JSON");
  EXPECT_EQ(ParseManifest("[]").error().message(), "manifest: must be a JSON object");
  EXPECT_TRUE(ParseManifest(std::string(2 << 20, ' ')).error().Is(Errc::kLimitExceeded));
  Json many = Valid();
  for (int i = 0; i < 200; ++i) {
    many["layers"].push_back(many["layers"][0]);
  }
  EXPECT_EQ(ErrorOf(many), "layers: has 201 items, more than 128");
}

TEST(Names, AppAndVolumeNames) {
  EXPECT_TRUE(IsValidName("web"));
  EXPECT_TRUE(IsValidName("a1.b_c-d"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("Web"));
  EXPECT_FALSE(IsValidName("-web"));
  EXPECT_FALSE(IsValidName(".."));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName(std::string(64, 'a')));
}

}  // namespace
}  // namespace ferry::manifest
