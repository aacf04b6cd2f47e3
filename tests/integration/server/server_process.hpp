// Starts the real ferry-server binary on port 0 with a temporary repository and reads the port it
// prints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ferry::testing {

class ServerProcess {
 public:
  // Runs `ferry-server serve --repo REPO --listen 127.0.0.1:0 EXTRA...`; fails the test (via
  // ADD_FAILURE, port 0) when no "listening on" line shows up within 10 s.
  ServerProcess(const std::filesystem::path& repo, const std::vector<std::string>& extra,
                const std::filesystem::path& log);

  std::uint16_t port() const { return port_; }
  Child& child() { return *child_; }
  std::string Log() const;

 private:
  std::filesystem::path log_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
};

// Bytes of a test blob: a fixed pseudo-random pattern, so a misplaced byte is caught.
std::string PatternBytes(std::size_t size, unsigned seed = 1);

void WriteFile(const std::filesystem::path& path, const std::string& data);

// Body bytes sent for blob requests (/blobs/sha256/HEX answered 200 or 206), summed from access
// log lines that read "... GET /blobs/sha256/HEX STATUS BYTES": ferry-server's log, or nginx with
// a log_format ending in "$request_method $uri $status $body_bytes_sent".
std::uint64_t BlobBytesSent(const std::string& log);

}  // namespace ferry::testing
