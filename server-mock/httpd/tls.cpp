#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "ferry/httpd/error.hpp"
#include "session.hpp"

namespace ferry::httpd::detail {
namespace {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

// Says which file is missing or unreadable before OpenSSL reports it as a PEM parse error.
Status Readable(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(HttpdErrc::kTls, what + " " + path + ": " + std::strerror(errno));
  }
  return Ok();
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeTlsContext(const TlsOptions& tls) {
  if (tls.key_file.empty()) {
    return Fail(HttpdErrc::kTls, "a TLS certificate needs its private key");
  }
  if (auto st = Readable("TLS certificate", tls.cert_file); !st) {
    return Fail(st.error());
  }
  if (auto st = Readable("TLS key", tls.key_file); !st) {
    return Fail(st.error());
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  if (SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION) != 1) {
    return Fail(HttpdErrc::kTls, "TLS: cannot require TLS 1.2 or later");
  }
  // Idle connections (a stalled handshake, keep-alive) give their read and write buffers back.
  SSL_CTX_set_mode(context->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  error_code ec;
  if (context->use_certificate_chain_file(tls.cert_file, ec); ec) {
    return Fail(HttpdErrc::kTls, "TLS certificate " + tls.cert_file +
                                     ": not a PEM certificate chain (" + ec.message() + ")");
  }
  // Loaded alone first, so that a file that is no key is told apart from a key of another
  // certificate (OpenSSL checks the pair as the key is added).
  ssl::context alone(ssl::context::tls_server);
  if (alone.use_private_key_file(tls.key_file, ssl::context::pem, ec); ec) {
    return Fail(HttpdErrc::kTls,
                "TLS key " + tls.key_file + ": not a PEM private key (" + ec.message() + ")");
  }
  if (context->use_private_key_file(tls.key_file, ssl::context::pem, ec);
      ec || SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return Fail(HttpdErrc::kTls,
                "TLS key " + tls.key_file + " does not match the certificate " + tls.cert_file);
  }
  if (!tls.client_ca_file.empty()) {
    if (auto st = Readable("TLS client CA", tls.client_ca_file); !st) {
      return Fail(st.error());
    }
    if (context->load_verify_file(tls.client_ca_file, ec); ec) {
      return Fail(HttpdErrc::kTls, "TLS client CA " + tls.client_ca_file +
                                       ": not a PEM certificate bundle (" + ec.message() + ")");
    }
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) {
      return Fail(HttpdErrc::kTls, "TLS: cannot require client certificates: " + ec.message());
    }
  }
  return context;
}

}  // namespace ferry::httpd::detail
