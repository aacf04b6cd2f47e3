#include "keys.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "ferry/core/fs.hpp"

namespace ferry::publish {

Result<trust::KeyType> ParseKeyType(std::string_view name) {
  if (name == "ed25519") {
    return trust::KeyType::kEd25519;
  }
  if (name == "ecdsa") {
    return trust::KeyType::kEcdsaP256;
  }
  if (name == "rsa") {
    return trust::KeyType::kRsaPss;
  }
  return Fail(Errc::kInvalidArgument,
              "unknown key type '" + std::string(name) + "' (choose ecdsa, ed25519 or rsa)");
}

Status WriteKeyPair(const std::filesystem::path& path, const trust::SigningKey& key) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Fail(Errc::kAlreadyExists, path.string() + " exists; not replacing a key");
  }
  auto pem = key.PrivatePem();
  if (!pem) {
    return Fail(pem.error());
  }
  if (path.has_parent_path()) {
    FERRY_TRY_STATUS(fs::MakeDirs(path.parent_path(), 0700),
                     "creating " + path.parent_path().string());
  }
  FERRY_TRY_STATUS(fs::WriteFileAtomic(path, *pem, 0600), "writing " + path.string());
  const std::string pub = trust::Serialize(key.PublicKeyJson()) + "\n";
  FERRY_TRY_STATUS(fs::WriteFileAtomic(path.string() + ".pub", pub, 0644),
                   "writing " + path.string() + ".pub");
  return Ok();
}

Result<trust::SigningKey> LoadKey(const std::filesystem::path& path) {
  auto pem = fs::ReadFile(path, 1 << 20);
  if (!pem) {
    return Fail(pem.error().WithContext("reading key"));
  }
  auto key = trust::SigningKey::FromPrivatePem(*pem);
  if (!key) {
    return Fail(key.error().WithContext(path.string()));
  }
  return key;
}

Result<std::map<std::string, trust::SigningKey>> LoadKeyDir(const std::filesystem::path& dir) {
  std::map<std::string, trust::SigningKey> keys;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return keys;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".pem" && entry.is_regular_file(ec)) {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    return Fail(SystemError("listing " + dir.string(), ec));
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto key = LoadKey(f);
    if (!key) {
      return Fail(key.error());
    }
    keys.emplace(key->KeyId(), std::move(*key));
  }
  return keys;
}

Status RetireKey(const std::filesystem::path& dir, const std::string& keyid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pem") {
      continue;
    }
    auto key = LoadKey(entry.path());
    if (!key || key->KeyId() != keyid) {
      continue;
    }
    const auto retired = dir / "retired";
    FERRY_TRY_STATUS(fs::MakeDirs(retired, 0700), "creating " + retired.string());
    FERRY_TRY_STATUS(fs::RenameDurable(entry.path(), retired / entry.path().filename()),
                     "retiring key " + keyid);
    const auto pub = entry.path().string() + ".pub";
    if (std::filesystem::exists(pub, ec)) {
      FERRY_TRY_STATUS(
          fs::RenameDurable(pub, retired / (entry.path().filename().string() + ".pub")),
          "retiring key " + keyid);
    }
    return Ok();
  }
  return Ok();
}

}  // namespace ferry::publish
