// ferry-publish init --repo DIR --keys KEYDIR [--key-type T] [--threshold N] [--expires-days D]
#include <memory>
#include <string>

#include "command.hpp"
#include "keys.hpp"
#include "repository.hpp"

namespace ferry::publish {

namespace {
struct InitArgs {
  std::string repo, keys, key_type = "ed25519";
  std::uint64_t threshold = 1;
  std::uint64_t keys_per_role = 0;
  int expires_days = kDefaultExpiresDays;
};
}  // namespace

CommandRun SetupInitCommand(CLI::App& sub) {
  auto args = std::make_shared<InitArgs>();
  sub.add_option("--repo", args->repo, "Repository directory to create")->required();
  sub.add_option("--keys", args->keys, "Key directory (keys are made there when missing)")
      ->required();
  sub.add_option("--key-type", args->key_type, "Type of new keys: ecdsa, ed25519 or rsa")
      ->capture_default_str();
  sub.add_option("--threshold", args->threshold, "Signatures needed per role")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  sub.add_option("--keys-per-role", args->keys_per_role,
                 "Keys made per role (default: the threshold)")
      ->check(CLI::Range(1, 16));
  sub.add_option("--expires-days", args->expires_days, "Expiry of root, targets and snapshot")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  return [args]() -> int {
    auto type = ParseKeyType(args->key_type);
    if (!type) {
      return Report("init", type.error(), kExitUsage);
    }
    InitOptions options;
    options.key_type = *type;
    options.threshold = args->threshold;
    options.keys_per_role = args->keys_per_role;
    options.expires_days = args->expires_days;
    if (auto st = Repository::Init(args->repo, args->keys, options); !st) {
      return Report("init", st.error());
    }
    std::printf("initialized repository %s (keys in %s)\n", args->repo.c_str(), args->keys.c_str());
    return 0;
  };
}

}  // namespace ferry::publish
