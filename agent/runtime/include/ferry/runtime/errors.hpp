// Error codes of ferry::runtime: what went wrong when building, starting or driving a container.
#pragma once

#include <system_error>

namespace ferry::runtime {

enum class RuntimeErrc {
  kInvalidSpec = 1,  // a value of the container spec (mostly from the image) is malformed
  kRefused,          // the spec asks for something the hardening policy never grants
  kNoSuchContainer,  // the runtime knows no container with this id
  kRuntimeFailed,    // the OCI runtime (runc) exited with an error; the message has its stderr
  kSpawnFailed,      // the OCI runtime could not be started at all
  kTimeout,          // the runtime or an exec'd command did not finish in time
  kIo,               // log or bundle files could not be written
};

const std::error_category& RuntimeCategory() noexcept;
std::error_code make_error_code(RuntimeErrc e) noexcept;  // NOLINT(readability-identifier-naming)

}  // namespace ferry::runtime

template <>
struct std::is_error_code_enum<ferry::runtime::RuntimeErrc> : std::true_type {};
