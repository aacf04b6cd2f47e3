// ferry-publish keygen --type ecdsa|ed25519|rsa --out PATH
#include <memory>
#include <string>

#include "command.hpp"
#include "keys.hpp"

namespace ferry::publish {

namespace {
struct KeygenArgs {
  std::string type = "ed25519";
  std::string out;
};
}  // namespace

CommandRun SetupKeygenCommand(CLI::App& sub) {
  auto args = std::make_shared<KeygenArgs>();
  sub.add_option("--type", args->type, "Key type: ecdsa, ed25519 or rsa")->capture_default_str();
  sub.add_option("--out", args->out, "Private key file to write (PATH.pub gets the public key)")
      ->required();
  return [args]() -> int {
    auto type = ParseKeyType(args->type);
    if (!type) {
      return Report("keygen", type.error(), kExitUsage);
    }
    auto key = trust::SigningKey::Generate(*type);
    if (!key) {
      return Report("keygen", key.error());
    }
    if (auto st = WriteKeyPair(args->out, *key); !st) {
      return Report("keygen", st.error());
    }
    std::printf("%s\n", key->KeyId().c_str());
    return 0;
  };
}

}  // namespace ferry::publish
