// ferry-server serving a repository folder on 127.0.0.1, a port the kernel picks, for the length
// of one benchmark leg.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace ferry::bench {

class ServerProcess {
 public:
  // Starts `ferry-server serve (the program named by $FERRY_SERVER, else this build tree's) --repo
  // REPO --listen 127.0.0.1:0` and reads the port from the "listening on" line it prints. port() is
  // 0 when it did not start; its log is in `log`.
  ServerProcess(const std::filesystem::path& repo, const std::filesystem::path& log);
  ~ServerProcess();  // stops the server (SIGTERM, then waits)
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  // http://127.0.0.1:PORT/blobs/sha256/<hex of digest>
  std::string BlobUrl(const std::string& digest) const;

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace ferry::bench
