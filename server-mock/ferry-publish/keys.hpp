// Signing keys of ferry-publish on disk. A key is a PEM private key file (mode 0600) with its TUF
// public key object beside it in <file>.pub. A key directory (KEYDIR) holds any number of them;
// whoever signs a role uses the keys of KEYDIR that the current root lists for that role.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/trust/signer.hpp"

namespace ferry::publish {

// "ecdsa", "ed25519" or "rsa"; anything else fails with kInvalidArgument naming the choices.
Result<trust::KeyType> ParseKeyType(std::string_view name);

// Writes `key` as PATH (PKCS#8 PEM, mode 0600) and PATH.pub (public key JSON, mode 0644).
// Refuses to replace an existing PATH (kAlreadyExists).
Status WriteKeyPair(const std::filesystem::path& path, const trust::SigningKey& key);

// Loads a PEM private key file.
Result<trust::SigningKey> LoadKey(const std::filesystem::path& path);

// Every *.pem of `dir` (not below it), by key id. A file that is not a key fails the load, naming
// the file. A missing directory gives an empty map.
Result<std::map<std::string, trust::SigningKey>> LoadKeyDir(const std::filesystem::path& dir);

// Moves a key file (and its .pub) of `dir` into dir/retired/, once no role uses it.
Status RetireKey(const std::filesystem::path& dir, const std::string& keyid);

}  // namespace ferry::publish
