// ferry-server over HTTPS (--tls-cert/--tls-key, and mutual TLS with --tls-client-ca), reached by
// the device's fleet client and the operator's CLI. Certificates are made with `openssl` for each
// test: a CA, a server certificate for 127.0.0.1 and a client certificate, both issued by the CA.
#include <gtest/gtest.h>

#include "ferry/fleetclient/fleet_client.hpp"
#include "integration/server/fleet_server_test.hpp"

namespace ferry::testing {
namespace {

using fleetclient::FleetClientErrc;
using json = nlohmann::json;

class FleetClientTlsTest : public FleetServerTest {
 protected:
  void SetUp() override {
    FleetServerTest::SetUp();
    admin_options_ = {"--ca-file", Path("ca.pem")};
    MakeCa("ca");
    MakeCert("ca", "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1");
    MakeCert("ca", "client", "/CN=pump-7", "extendedKeyUsage=clientAuth");
  }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    const RunResult r = ::ferry::testing::Run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", Path(name + ".key"),
             "-out", Path(name + ".pem"), "-days", "1", "-subj", "/CN=Ferry test " + name});
  }

  void MakeCert(const std::string& ca, const std::string& name, const std::string& subject,
                const std::string& extension) {
    WriteFile(dir_ / (name + ".ext"), extension + "\n");
    Openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", Path(name + ".key"), "-out",
             Path(name + ".csr"), "-subj", subject});
    Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(ca + ".pem"), "-CAkey",
             Path(ca + ".key"), "-CAcreateserial", "-out", Path(name + ".pem"), "-days", "1",
             "-extfile", Path(name + ".ext")});
  }

  void Start(bool require_client_cert) {
    std::vector<std::string> args = {"--tls-cert", Path("server.pem"), "--tls-key",
                                     Path("server.key")};
    if (require_client_cert) {
      args.insert(args.end(), {"--tls-client-ca", Path("ca.pem")});
    }
    StartFleetServer(args, "server.log", "https");
  }

  // The operator's command, with the client certificate when `with_cert`.
  RunResult AdminAs(std::vector<std::string> args, bool with_cert) {
    if (with_cert) {
      args.insert(args.begin(), {"--cert", Path("client.pem"), "--key", Path("client.key")});
    }
    return Admin(std::move(args));
  }

  // Provisions pump-7 with a deployment of web 2.0.0 and returns its token.
  std::string Provision(bool with_cert = false) {
    const RunResult added =
        AdminAs({"devices", "add", "pump-7", "--token-out", Path("pump-7.token")}, with_cert);
    EXPECT_EQ(added.exit_code, 0) << added.err;
    const RunResult deployed =
        AdminAs({"deploy", "create", "--app", "web", "--version", "2.0.0", "--device", "pump-7"},
                with_cert);
    EXPECT_EQ(deployed.exit_code, 0) << deployed.err;
    return ReadText(dir_ / "pump-7.token");
  }

  fleetclient::ClientOptions Options(const std::string& token) const {
    fleetclient::ClientOptions options;
    options.base_url = url_;
    options.token = token;
    options.ca_file = Path("ca.pem");
    options.connect_timeout = std::chrono::seconds(5);
    options.total_timeout = std::chrono::seconds(10);
    return options;
  }

  SystemClock clock_;
};

TEST_F(FleetClientTlsTest, TheClientWithTheCaGetsItsAssignmentOverHttps) {
  Start(false);
  auto client = fleetclient::MakeFleetClient(clock_, Options(Provision()));
  auto a = client->GetAssignment("");
  ASSERT_TRUE(a) << a.error().String();
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->apps, (std::vector<fleetclient::AssignedApp>{{"web", "2.0.0", "d-1", false}}));
  // The connection is kept between calls.
  auto again = client->GetAssignment((*a)->etag);
  ASSERT_TRUE(again) << again.error().String();
  EXPECT_FALSE(again->has_value());
  auto highest = client->PostEvents({{1, "committed", "web", "2.0.0", "d-1", "", 0}});
  ASSERT_TRUE(highest) << highest.error().String();
  EXPECT_EQ(*highest, 1);
}

TEST_F(FleetClientTlsTest, WithoutTheCaTheServerIsRefusedWithACertificateError) {
  Start(false);
  auto options = Options(Provision());
  options.ca_file.clear();  // the system's CAs do not know the test CA
  auto a = fleetclient::MakeFleetClient(clock_, options)->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kTransport)) << a.error().String();
  EXPECT_NE(a.error().message().find("TLS peer refused"), std::string::npos) << a.error().message();
  EXPECT_NE(a.error().message().find(url_), std::string::npos) << a.error().message();

  // A CA that did not issue the server's certificate is no better.
  MakeCa("other");
  options.ca_file = Path("other.pem");
  auto b = fleetclient::MakeFleetClient(clock_, options)->GetAssignment("");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("TLS peer refused"), std::string::npos) << b.error().message();
}

TEST_F(FleetClientTlsTest, PlainHttpToTheHttpsPortGetsNoAnswer) {
  Start(false);
  auto options = Options(Provision());
  options.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
  auto a = fleetclient::MakeFleetClient(clock_, options)->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(FleetClientErrc::kTransport)) << a.error().String();
}

TEST_F(FleetClientTlsTest, MutualTlsRefusesAClientWithoutACertificate) {
  Start(true);
  // The operator's CLI needs a certificate too.
  const RunResult refused = Admin({"devices", "list"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  const std::string token = Provision(/*with_cert=*/true);

  auto without = fleetclient::MakeFleetClient(clock_, Options(token))->GetAssignment("");
  ASSERT_FALSE(without);
  EXPECT_TRUE(without.error().Is(FleetClientErrc::kTransport)) << without.error().String();

  // A certificate from a CA the server does not trust is refused as well.
  MakeCa("rogue");
  MakeCert("rogue", "rogue-client", "/CN=pump-7", "extendedKeyUsage=clientAuth");
  auto rogue_options = Options(token);
  rogue_options.cert_file = Path("rogue-client.pem");
  rogue_options.key_file = Path("rogue-client.key");
  auto rogue = fleetclient::MakeFleetClient(clock_, rogue_options)->GetAssignment("");
  ASSERT_FALSE(rogue);
  EXPECT_TRUE(rogue.error().Is(FleetClientErrc::kTransport)) << rogue.error().String();

  auto options = Options(token);
  options.cert_file = Path("client.pem");
  options.key_file = Path("client.key");
  auto with = fleetclient::MakeFleetClient(clock_, options)->GetAssignment("");
  ASSERT_TRUE(with) << with.error().String();
  ASSERT_TRUE(with->has_value());
  EXPECT_EQ((*with)->device, "pump-7");
  EXPECT_NE(server_->Log().find("TLS handshake failed"), std::string::npos) << server_->Log();
}

TEST_F(FleetClientTlsTest, ACertificateWithoutItsKeyIsRefusedBeforeSending) {
  auto options = Options("fdt_x");
  options.base_url = "https://127.0.0.1:1";
  options.cert_file = Path("client.pem");
  auto a = fleetclient::MakeFleetClient(clock_, options)->GetAssignment("");
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().Is(Errc::kInvalidArgument)) << a.error().String();
}

struct BadTls {
  std::string cert;
  std::string key;
  std::string client_ca;
  std::string says;
};

TEST_F(FleetClientTlsTest, TheServerExplainsUnusableCertificatesAndKeys) {
  MakeCa("other");
  WriteFile(dir_ / "garbage.pem", "not a certificate\n");
  const std::vector<BadTls> cases = {
      {"missing.pem", "server.key", "",
       "TLS certificate " + Path("missing.pem") + ": No such file"},
      {"server.pem", "missing.key", "", "TLS key " + Path("missing.key") + ": No such file"},
      {"garbage.pem", "server.key", "",
       "TLS certificate " + Path("garbage.pem") + ": not a PEM certificate chain"},
      {"server.pem", "garbage.pem", "",
       "TLS key " + Path("garbage.pem") + ": not a PEM private key"},
      {"server.pem", "other.key", "",
       "TLS key " + Path("other.key") + " does not match the certificate " + Path("server.pem")},
      {"server.pem", "server.key", "garbage.pem",
       "TLS client CA " + Path("garbage.pem") + ": not a PEM certificate bundle"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {BuiltProgram("ferry-server").string(),
                                     "serve",
                                     "--repo",
                                     Path("repo"),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--tls-cert",
                                     Path(c.cert),
                                     "--tls-key",
                                     Path(c.key)};
    if (!c.client_ca.empty()) {
      argv.insert(argv.end(), {"--tls-client-ca", Path(c.client_ca)});
    }
    const RunResult r = ::ferry::testing::Run(argv);
    EXPECT_EQ(r.exit_code, 1) << c.says;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << "wanted: " << c.says << "\ngot: " << r.err;
    EXPECT_EQ(r.out.find("listening on"), std::string::npos);
  }
  const RunResult half =
      ::ferry::testing::Run({BuiltProgram("ferry-server").string(), "serve", "--repo", Path("repo"),
                             "--listen", "127.0.0.1:0", "--tls-cert", Path("server.pem")});
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_NE(half.err.find("--tls-cert and --tls-key go together"), std::string::npos) << half.err;
}

}  // namespace
}  // namespace ferry::testing
