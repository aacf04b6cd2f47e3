// A real runc with a private state dir, and a busybox root filesystem built by the test.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ferry/runtime/runc_runtime.hpp"
#include "support/temp_dir.hpp"

namespace ferry::runtime::e2e {

std::filesystem::path FindRunc();
std::filesystem::path FindBusybox();

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// GET http://127.0.0.1:port/path over a plain socket; the whole response, or nullopt.
std::optional<std::string> HttpGet(int port, const std::string& path);

class RuncTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A busybox rootfs at dir/rootfs (read-only root needs every mount point to exist).
  std::filesystem::path MakeRootfs(const std::string& name);
  ContainerSpec Spec(const std::string& revision, std::vector<std::string> args);
  // Create + Start.
  void Run(const std::string& id, const ContainerSpec& spec);
  // Waits (real time, bounded) until the container has stopped; returns its state.
  ContainerState WaitStopped(const std::string& id,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string ReadLog(const std::string& revision);

  testing::TempDir dir_;
  RuncConfig config_;
  std::optional<RuncRuntime> runtime_;
  std::filesystem::path rootfs_;
  std::vector<std::string> ids_;
};

}  // namespace ferry::runtime::e2e
