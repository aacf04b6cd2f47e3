// Helpers for the ferry-publish tests: running the real binary, making root filesystems, reading
// what a release wrote into a repository.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ferry/manifest/manifest.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::publish::testing {

// Runs `ferry-publish ARGS…`.
ferry::testing::RunResult Publish(const std::vector<std::string>& args);

// Writes a small app tree below `dir`: bin/app (a 256 KiB pseudo-random file whose tail depends
// on `variant`) and a hardlink to it, etc/app.conf, a symlink, an empty directory; fixed mtimes.
void MakeRootfs(const std::filesystem::path& dir, int variant);

// Writes `content` to `path` (parents created).
void WriteFile(const std::filesystem::path& path, const std::string& content);
std::string ReadFile(const std::filesystem::path& path);

// The stored manifest target file of app/version (targets/<app>/<sha256>.<version>.json).
std::filesystem::path ManifestFile(const std::filesystem::path& repo, const std::string& app,
                                   const std::string& version);
manifest::Manifest LoadManifest(const std::filesystem::path& repo, const std::string& app,
                                const std::string& version);

std::string Sha256Hex(const std::string& data);
std::filesystem::path BlobFile(const std::filesystem::path& repo, const std::string& digest);

// Unpacks a zstd layer blob into `dir` with Ferry's extractor (files owned by the caller).
void UnpackBlob(const std::filesystem::path& blob, const std::filesystem::path& dir);

// Names of the members of a tar file, in order.
std::vector<std::string> TarMembers(const std::filesystem::path& tar);

// An app config with a command, so a bare root filesystem makes a valid release.
std::filesystem::path WriteAppConfig(const std::filesystem::path& dir,
                                     const std::string& json = R"({"cmd": ["/bin/app"]})");

// A repository made by `ferry-publish init` in a temporary directory, for each test.
class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override;

  std::filesystem::path repo() const { return tmp_ / "repo"; }
  std::filesystem::path keys() const { return tmp_ / "keys"; }

  // Releases app "web" at `version` from MakeRootfs(variant) with WriteAppConfig; asserts success.
  void Release(const std::string& version, int variant);

  ferry::testing::TempDir tmp_;
};

}  // namespace ferry::publish::testing
