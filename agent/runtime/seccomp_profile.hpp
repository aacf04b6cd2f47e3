// The seccomp filter of every Ferry container, as the `linux.seccomp` object of config.json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ferry::runtime {

// Default action ERRNO(EPERM) and an allow-list of syscall names derived from what Docker's
// default profile allows an unprivileged container, minus everything that changes namespaces,
// mounts, keyrings, kernel modules, BPF, ptrace, perf or swap. `capabilities` (bare names) adds
// the few calls Docker ties to a granted capability (chroot with SYS_CHROOT).
nlohmann::json SeccompProfile(const std::vector<std::string>& capabilities);

// Names that must never appear in the allow-list, whatever the capabilities; the tests check them.
const std::vector<std::string>& ForbiddenSyscalls();

}  // namespace ferry::runtime
