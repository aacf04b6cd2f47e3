#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ferry::bench {

ServerProcess::ServerProcess(const std::filesystem::path& repo, const std::filesystem::path& log) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    return;
  }
  std::fflush(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd >= 0) {
      ::dup2(log_fd, STDERR_FILENO);
    }
    const char* program = std::getenv("FERRY_SERVER");
    ::execl(program != nullptr ? program : FERRY_SERVER_PATH, "ferry-server", "serve", "--repo",
            repo.c_str(), "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(out[1]);
  if (pid_ < 0) {
    std::perror("fork");
    ::close(out[0]);
    return;
  }
  // The first line on its stdout is "listening on 127.0.0.1:PORT"; EOF means it failed.
  std::string line;
  char c = 0;
  while (::read(out[0], &c, 1) == 1 && c != '\n') {
    line += c;
  }
  ::close(out[0]);  // later output (none is expected) would get EPIPE, not block the server
  const std::string prefix = "listening on 127.0.0.1:";
  if (line.starts_with(prefix)) {
    port_ = static_cast<std::uint16_t>(std::atoi(line.c_str() + prefix.size()));
  } else {
    std::fprintf(stderr,
                 "ferry-server did not start (see %s; $FERRY_SERVER names another build's)\n",
                 log.c_str());
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string ServerProcess::BlobUrl(const std::string& digest) const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/blobs/sha256/" + digest.substr(7);
}

}  // namespace ferry::bench
