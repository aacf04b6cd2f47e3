// ferry-publish revoke --repo DIR --keys KEYDIR --role ROLE --keyid ID
//
// Removes one key from a role (a lost or leaked key) with a new root, as long as the role keeps
// enough keys for its threshold.
#include <algorithm>
#include <memory>
#include <string>

#include "command.hpp"
#include "root_edit.hpp"

namespace ferry::publish {

namespace {

struct RevokeArgs {
  std::string repo, keys, role, keyid;
};

int Run(const RevokeArgs& args) {
  if (auto st = CheckRole(args.role); !st) {
    return Report("revoke", st.error(), kExitUsage);
  }
  auto repo = Repository::Open(args.repo, args.keys, Repository::Access::kWrite);
  if (!repo) {
    return Report("revoke", repo.error());
  }
  auto ids = RoleKeyIds(repo->root_signed(), args.role);
  auto it = std::find(ids.begin(), ids.end(), args.keyid);
  if (it == ids.end()) {
    return Report("revoke", MakeError(Errc::kNotFound,
                                      "key " + args.keyid + " is not a key of role " + args.role));
  }
  ids.erase(it);
  const std::uint64_t threshold = RoleThreshold(repo->root_signed(), args.role);
  if (ids.size() < threshold) {
    return Report("revoke",
                  MakeError(Errc::kFailedPrecondition,
                            "role " + args.role + " would keep " + std::to_string(ids.size()) +
                                " key(s) for a threshold of " + std::to_string(threshold) +
                                "; rotate the role instead"));
  }
  trust::Json new_root = WithRoleKeys(repo->root_signed(), args.role, ids, {});
  if (auto st = PublishRootChange(*repo, std::move(new_root), {args.keyid}); !st) {
    return Report("revoke", st.error());
  }
  std::printf("revoked %s from %s: root version %llu\n", args.keyid.c_str(), args.role.c_str(),
              static_cast<unsigned long long>(repo->root_version()));
  return 0;
}

}  // namespace

CommandRun SetupRevokeCommand(CLI::App& sub) {
  auto args = std::make_shared<RevokeArgs>();
  sub.add_option("--repo", args->repo, "Repository directory")->required();
  sub.add_option("--keys", args->keys, "Key directory")->required();
  sub.add_option("--role", args->role, "root, targets, snapshot or timestamp")->required();
  sub.add_option("--keyid", args->keyid, "Key id to remove")->required();
  return [args]() -> int { return Run(*args); };
}

}  // namespace ferry::publish
