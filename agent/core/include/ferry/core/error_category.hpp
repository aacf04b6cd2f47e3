// One std::error_category for each module's error enum: its name, and a function that describes
// each value (empty for a value it does not know). A module writes only that function:
//
//   const std::error_category& TrustCategory() noexcept {
//     static const EnumErrorCategory<TrustErrc> category("ferry.trust", Describe);
//     return category;
//   }
#pragma once

#include <string>
#include <system_error>

namespace ferry {

template <typename Enum>
class EnumErrorCategory final : public std::error_category {
 public:
  using DescribeFn = std::string (*)(Enum);

  EnumErrorCategory(const char* name, DescribeFn describe) : name_(name), describe_(describe) {}

  const char* name() const noexcept override { return name_; }

  std::string message(int value) const override {
    std::string text = describe_(static_cast<Enum>(value));
    if (text.empty()) {
      return std::string("unknown ") + name_ + " error " + std::to_string(value);
    }
    return text;
  }

 private:
  const char* name_;
  DescribeFn describe_;
};

}  // namespace ferry
