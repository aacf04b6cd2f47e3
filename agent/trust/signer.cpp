#include "ferry/trust/signer.hpp"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ferry/trust/error.hpp"

namespace ferry::trust {

struct SigningKey::Impl {
  explicit Impl(EVP_PKEY* p) : pkey(p) {}
  ~Impl() { EVP_PKEY_free(pkey); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  EVP_PKEY* pkey;
};

namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};

std::string BioString(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return mem ? std::string(mem->data, mem->length) : std::string();
}

}  // namespace

Result<SigningKey> SigningKey::FromImpl(std::shared_ptr<Impl> impl) {
  EVP_PKEY* pkey = impl->pkey;
  PublicKey pub;
  KeyType type;
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_ED25519: {
      unsigned char raw[32];
      size_t len = sizeof(raw);
      if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1) {
        return Fail(TrustErrc::kMalformed, "cannot read ed25519 public key");
      }
      type = KeyType::kEd25519;
      pub = {"ed25519", "ed25519",
             ToHex(std::string_view(reinterpret_cast<const char*>(raw), len))};
      break;
    }
    case EVP_PKEY_EC:
      type = KeyType::kEcdsaP256;
      pub = {"ecdsa", "ecdsa-sha2-nistp256", ""};
      break;
    case EVP_PKEY_RSA:
      type = KeyType::kRsaPss;
      pub = {"rsa", "rsassa-pss-sha256", ""};
      break;
    default:
      return Fail(TrustErrc::kUnsupported, "unsupported private key type");
  }
  if (type != KeyType::kEd25519) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey) != 1) {
      return Fail(TrustErrc::kMalformed, "cannot write public key PEM");
    }
    pub.public_value = BioString(bio.get());
  }
  return SigningKey(type, std::move(impl), std::move(pub));
}

Result<SigningKey> SigningKey::Generate(KeyType type) {
  EVP_PKEY* pkey = nullptr;
  switch (type) {
    case KeyType::kEd25519:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kEcdsaP256:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kRsaPss:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072));
      break;
  }
  if (pkey == nullptr) {
    return Fail(TrustErrc::kUnsupported, "key generation failed");
  }
  return FromImpl(std::make_shared<Impl>(pkey));
}

Result<SigningKey> SigningKey::FromPrivatePem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (pkey == nullptr) {
    return Fail(TrustErrc::kMalformed, "not a PEM private key");
  }
  auto impl = std::make_shared<Impl>(pkey);
  if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &len) != 1 ||
        std::string_view(group, len) != "prime256v1") {
      return Fail(TrustErrc::kUnsupported, "only P-256 ECDSA keys are supported");
    }
  }
  return FromImpl(std::move(impl));
}

Json SigningKey::PublicKeyJson() const {
  Json::Object keyval;
  keyval.emplace_back("public", Json(public_key_.public_value));
  Json::Object key;
  key.emplace_back("keytype", Json(public_key_.keytype));
  key.emplace_back("scheme", Json(public_key_.scheme));
  key.emplace_back("keyval", Json(std::move(keyval)));
  return Json(std::move(key));
}

std::string SigningKey::KeyId() const { return KeyIdOf(PublicKeyJson()); }

std::string KeyIdOf(const Json& public_key_json) {
  return Sha256Hex(Canonicalize(public_key_json));
}

Result<std::string> SigningKey::PrivatePem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->pkey, nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return Fail(TrustErrc::kMalformed, "cannot write private key PEM");
  }
  return BioString(bio.get());
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = type_ == KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, impl_->pkey) != 1) {
    return Fail(TrustErrc::kUnsupported, "cannot start signing");
  }
  if (type_ == KeyType::kRsaPss &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return Fail(TrustErrc::kUnsupported, "cannot set RSA-PSS parameters");
  }
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, message.size()) != 1) {
    return Fail(TrustErrc::kUnsupported, "signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     message.size()) != 1) {
    return Fail(TrustErrc::kUnsupported, "signing failed");
  }
  sig.resize(len);
  return ToHex(sig);
}

}  // namespace ferry::trust
