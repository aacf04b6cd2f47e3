#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <system_error>

#include "support/mounts.hpp"

namespace ferry::testing {

TempDir::TempDir() {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  if (ec) {
    base = "/tmp";
  }
  std::string tmpl = (base / "ferry-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  // Whatever a test mounted below its temp dir (overlay roots outlive the engine on purpose) goes
  // with it, also when the test failed half-way, so no run leaves mounts on the machine.
  UnmountAllBelow(path_);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace ferry::testing
