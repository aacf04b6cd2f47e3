// ferry-publish rotate --repo DIR --keys KEYDIR --role ROLE [--new-key PATH] [--key-type T]
//
// Replaces every key of ROLE: with --new-key by that key (copied into KEYDIR), otherwise by as
// many fresh keys as the role had. A root rotation is signed by the old and the new root keys,
// so devices walk from one to the other.
#include <memory>
#include <string>

#include "command.hpp"
#include "keys.hpp"
#include "root_edit.hpp"

namespace ferry::publish {

namespace {

struct RotateArgs {
  std::string repo, keys, role, new_key, key_type = "ed25519";
};

int Run(const RotateArgs& args) {
  if (auto st = CheckRole(args.role); !st) {
    return Report("rotate", st.error(), kExitUsage);
  }
  auto type = ParseKeyType(args.key_type);
  if (!type) {
    return Report("rotate", type.error(), kExitUsage);
  }
  auto repo = Repository::Open(args.repo, args.keys, Repository::Access::kWrite);
  if (!repo) {
    return Report("rotate", repo.error());
  }
  const auto old_ids = RoleKeyIds(repo->root_signed(), args.role);
  std::vector<trust::SigningKey> fresh;
  if (!args.new_key.empty()) {
    auto key = LoadKey(args.new_key);
    if (!key) {
      return Report("rotate", key.error());
    }
    fresh.push_back(std::move(*key));
    if (RoleThreshold(repo->root_signed(), args.role) > 1) {
      return Report("rotate", MakeError(Errc::kFailedPrecondition,
                                        "role " + args.role +
                                            " needs several keys; rotate without --new-key"));
    }
  } else {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, old_ids.size()); ++i) {
      auto key = trust::SigningKey::Generate(*type);
      if (!key) {
        return Report("rotate", key.error());
      }
      fresh.push_back(std::move(*key));
    }
  }
  std::vector<std::string> new_ids;
  for (const auto& key : fresh) {
    const auto path =
        std::filesystem::path(args.keys) / (args.role + "-" + key.KeyId().substr(0, 12) + ".pem");
    if (!std::filesystem::exists(path)) {
      if (auto st = WriteKeyPair(path, key); !st) {
        return Report("rotate", st.error());
      }
    }
    repo->AddKey(key);
    new_ids.push_back(key.KeyId());
  }
  trust::Json new_root = WithRoleKeys(repo->root_signed(), args.role, new_ids, fresh);
  if (auto st = PublishRootChange(*repo, std::move(new_root), old_ids); !st) {
    return Report("rotate", st.error());
  }
  std::printf("rotated %s: root version %llu\n", args.role.c_str(),
              static_cast<unsigned long long>(repo->root_version()));
  for (const auto& id : new_ids) {
    std::printf("%s\n", id.c_str());
  }
  return 0;
}

}  // namespace

CommandRun SetupRotateCommand(CLI::App& sub) {
  auto args = std::make_shared<RotateArgs>();
  sub.add_option("--repo", args->repo, "Repository directory")->required();
  sub.add_option("--keys", args->keys, "Key directory")->required();
  sub.add_option("--role", args->role, "root, targets, snapshot or timestamp")->required();
  sub.add_option("--new-key", args->new_key, "Private key file to use instead of a fresh key");
  sub.add_option("--key-type", args->key_type, "Type of fresh keys: ecdsa, ed25519 or rsa")
      ->capture_default_str();
  return [args]() -> int { return Run(*args); };
}

}  // namespace ferry::publish
