#include "ferry/runtime/errors.hpp"

#include <string>

namespace ferry::runtime {
namespace {

class RuntimeCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry.runtime"; }
  std::string message(int value) const override {
    switch (static_cast<RuntimeErrc>(value)) {
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
    return "unknown runtime error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& RuntimeCategory() noexcept {
  static const RuntimeCategoryImpl category;
  return category;
}

std::error_code make_error_code(RuntimeErrc e) noexcept {
  return {static_cast<int>(e), RuntimeCategory()};
}

}  // namespace ferry::runtime
