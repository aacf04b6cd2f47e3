#include "ferry/runtime/errors.hpp"

#include <string>

#include "ferry/core/error_category.hpp"

namespace ferry::runtime {
namespace {

std::string Describe(RuntimeErrc e) {
  switch (e) {
    case RuntimeErrc::kInvalidSpec:
      return "invalid container spec";
    case RuntimeErrc::kRefused:
      return "refused by container policy";
    case RuntimeErrc::kNoSuchContainer:
      return "no such container";
    case RuntimeErrc::kRuntimeFailed:
      return "container runtime failed";
    case RuntimeErrc::kSpawnFailed:
      return "container runtime could not be started";
    case RuntimeErrc::kTimeout:
      return "container runtime timed out";
    case RuntimeErrc::kIo:
      return "container file I/O failed";
  }
  return {};
}

}  // namespace

const std::error_category& RuntimeCategory() noexcept {
  static const EnumErrorCategory<RuntimeErrc> category("ferry.runtime", Describe);
  return category;
}

std::error_code make_error_code(RuntimeErrc e) noexcept {
  return {static_cast<int>(e), RuntimeCategory()};
}

}  // namespace ferry::runtime
