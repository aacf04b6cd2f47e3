// ferry-publish: turns application images into signed releases, and the tools around them.
#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"

namespace {

using ferry::publish::CommandEntry;

constexpr CommandEntry kCommands[] = {
    {"delta", "Encode a layer delta from an old layer (tar or directory) to a new layer tar",
     ferry::publish::SetupDeltaCommand},
    {"apply", "Rebuild a new layer tar from an unpacked old layer and a delta (ferryd's decoder)",
     ferry::publish::SetupApplyCommand},
    {"keygen", "Make a signing key (PATH private, PATH.pub public)",
     ferry::publish::SetupKeygenCommand},
    {"init", "Create a TUF repository and its keys", ferry::publish::SetupInitCommand},
    {"release", "Publish a signed release of an app from an image",
     ferry::publish::SetupReleaseCommand},
    {"timestamp", "Re-sign the timestamp with a new expiry (for cron)",
     ferry::publish::SetupTimestampCommand},
    {"rotate", "Replace the keys of a role", ferry::publish::SetupRotateCommand},
    {"revoke", "Remove a key from a role", ferry::publish::SetupRevokeCommand},
    {"bundle", "Write an offline bundle of a release", ferry::publish::SetupBundleCommand},
    {"verify", "Check the whole repository as a device would", ferry::publish::SetupVerifyCommand},
    {"gc", "Remove blobs no manifest references", ferry::publish::SetupGcCommand},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ferry-publish: make Ferry releases and layer deltas"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, ferry::publish::CommandRun>> runs;
  for (const CommandEntry& entry : kCommands) {
    CLI::App* sub = app.add_subcommand(std::string(entry.name), std::string(entry.description));
    runs.emplace_back(sub, entry.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (auto& [sub, run] : runs) {
    if (sub->parsed()) {
      return run();
    }
  }
  return 2;
}
