// Hashes and signature checks for TUF metadata, through OpenSSL.
#pragma once

#include <string>
#include <string_view>

#include "ferry/core/result.hpp"

namespace ferry::trust {

// A public key as it appears in root or delegating metadata.
struct PublicKey {
  std::string keytype;       // "ed25519", "ecdsa" / "ecdsa-sha2-nistp256", "rsa"
  std::string scheme;        // "ed25519", "ecdsa-sha2-nistp256", "rsassa-pss-sha256"
  std::string public_value;  // keyval.public: hex (ed25519) or PEM SubjectPublicKeyInfo

  // The value that identifies the key material regardless of its key id, so one key listed under
  // two key ids is still counted once toward a threshold.
  std::string Identity() const { return keytype + "\n" + scheme + "\n" + public_value; }
};

// Lower-case hex digest of `data` with `algorithm` ("sha256" or "sha512"); any other algorithm
// fails with TrustErrc::kUnsupported.
Result<std::string> HashHex(std::string_view algorithm, std::string_view data);
std::string Sha256Hex(std::string_view data);

std::string ToHex(std::string_view bytes);
// Decodes hex (either case); fails with kMalformed on odd length or a non-hex character.
Result<std::string> FromHex(std::string_view hex);

// True when `signature_hex` is a valid signature of `message` by `key`. An unknown key type or
// scheme, a key that does not parse, or a malformed signature is simply not valid.
bool VerifySignature(const PublicKey& key, std::string_view message,
                     std::string_view signature_hex);

}  // namespace ferry::trust
