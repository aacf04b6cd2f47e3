#include "ferry/trust/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>

#include "ferry/trust/error.hpp"

namespace ferry::trust {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey LoadPemPublic(const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return nullptr;
  }
  return Pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

bool IsP256(EVP_PKEY* key) {
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len) != 1) {
    return false;
  }
  return std::string_view(group, len) == "prime256v1";
}

}  // namespace

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0F];
  }
  return out;
}

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Fail(TrustErrc::kMalformed, "hex string of odd length");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return Fail(TrustErrc::kMalformed, "non-hex character");
    }
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

Result<std::string> HashHex(std::string_view algorithm, std::string_view data) {
  const EVP_MD* md = nullptr;
  if (algorithm == "sha256") {
    md = EVP_sha256();
  } else if (algorithm == "sha512") {
    md = EVP_sha512();
  } else {
    return Fail(TrustErrc::kUnsupported,
                "unsupported hash algorithm \"" + std::string(algorithm) + "\"");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr) != 1) {
    return Fail(TrustErrc::kUnsupported, "digest failed");
  }
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string Sha256Hex(std::string_view data) {
  auto h = HashHex("sha256", data);
  return h ? *h : std::string();
}

bool VerifySignature(const PublicKey& key, std::string_view message,
                     std::string_view signature_hex) {
  auto sig = FromHex(signature_hex);
  if (!sig || sig->empty()) {
    return false;
  }
  Pkey pkey;
  const EVP_MD* md = nullptr;
  bool pss = false;
  if (key.keytype == "ed25519" && key.scheme == "ed25519") {
    auto raw = FromHex(key.public_value);
    if (!raw || raw->size() != 32) {
      return false;
    }
    pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(raw->data()),
                                           raw->size()));
  } else if ((key.keytype == "ecdsa" || key.keytype == "ecdsa-sha2-nistp256") &&
             key.scheme == "ecdsa-sha2-nistp256") {
    pkey = LoadPemPublic(key.public_value);
    if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_EC || !IsP256(pkey.get())) {
      return false;
    }
    md = EVP_sha256();
  } else if (key.keytype == "rsa" && key.scheme == "rsassa-pss-sha256") {
    pkey = LoadPemPublic(key.public_value);
    if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA) {
      return false;
    }
    md = EVP_sha256();
    pss = true;
  } else {
    return false;
  }
  if (!pkey) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, pkey.get()) != 1) {
    return false;
  }
  if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                          sig->size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace ferry::trust
