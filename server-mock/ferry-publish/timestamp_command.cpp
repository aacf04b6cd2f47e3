// ferry-publish timestamp --repo DIR --keys KEYDIR [--expires-days D] [--all]
//
// With --all, targets and snapshot are re-signed too (new versions and expiry): for a repository
// that has had no release for a long time.
#include <memory>
#include <string>

#include "command.hpp"
#include "repository.hpp"

namespace ferry::publish {

namespace {
struct TimestampArgs {
  std::string repo, keys;
  int expires_days = kDefaultTimestampDays;
  bool all = false;
};
}  // namespace

CommandRun SetupTimestampCommand(CLI::App& sub) {
  auto args = std::make_shared<TimestampArgs>();
  sub.add_option("--repo", args->repo, "Repository directory")->required();
  sub.add_option("--keys", args->keys, "Key directory")->required();
  sub.add_option("--expires-days", args->expires_days, "Expiry of the new timestamp")
      ->check(CLI::Range(1, 365))
      ->capture_default_str();
  sub.add_flag("--all", args->all, "Re-sign targets and snapshot as well");
  return [args]() -> int {
    auto repo = Repository::Open(args->repo, args->keys, Repository::Access::kWrite);
    if (!repo) {
      return Report("timestamp", repo.error());
    }
    if (auto st = repo->Commit(args->all, args->expires_days); !st) {
      return Report("timestamp", st.error());
    }
    return 0;
  };
}

}  // namespace ferry::publish
