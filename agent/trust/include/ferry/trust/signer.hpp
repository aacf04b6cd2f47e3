// Signing keys, for making repositories (ferry-publish and tests): key generation for the three
// supported key types, PEM/hex export, key ids and signatures over canonical bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/trust/crypto.hpp"
#include "ferry/trust/json.hpp"

namespace ferry::trust {

enum class KeyType { kEd25519, kEcdsaP256, kRsaPss };

class SigningKey {
 public:
  // A fresh key pair (RSA keys are 3072 bits).
  static Result<SigningKey> Generate(KeyType type);
  // Loads a private key from PEM (PKCS#8 or traditional); its type decides the scheme.
  static Result<SigningKey> FromPrivatePem(std::string_view pem);

  KeyType type() const { return type_; }
  const PublicKey& public_key() const { return public_key_; }
  // {"keytype": …, "scheme": …, "keyval": {"public": …}}
  Json PublicKeyJson() const;
  // sha256 of the canonical JSON of PublicKeyJson(), hex.
  std::string KeyId() const;
  // Unencrypted PKCS#8 PEM of the private key.
  Result<std::string> PrivatePem() const;
  // Hex signature of `message` per the key's scheme.
  Result<std::string> Sign(std::string_view message) const;

 private:
  struct Impl;
  SigningKey(KeyType type, std::shared_ptr<Impl> impl, PublicKey public_key)
      : type_(type), impl_(std::move(impl)), public_key_(std::move(public_key)) {}
  static Result<SigningKey> FromImpl(std::shared_ptr<Impl> impl);

  KeyType type_;
  std::shared_ptr<Impl> impl_;
  PublicKey public_key_;
};

// Key id of a public key object: sha256 hex of its canonical JSON.
std::string KeyIdOf(const Json& public_key_json);

}  // namespace ferry::trust
