#include "repo_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstdio>
#include <thread>

namespace ferry::publish {

Result<UniqueFd> LockRepository(const std::filesystem::path& dir, LockMode mode,
                                std::chrono::milliseconds wait) {
  const auto path = dir / ".ferry-publish.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Fail(ErrnoError("open " + path.string()));
  }
  const int op = (mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  // flock has no timeout of its own; the holders keep the lock for seconds at most, so polling
  // costs nothing worth an alarm signal.
  const auto deadline = std::chrono::steady_clock::now() + wait;
  bool said = false;
  while (::flock(fd.get(), op) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Fail(ErrnoError("flock " + path.string()));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(
          Errc::kUnavailable,
          "another ferry-publish is working on " + dir.string() + " (" + path.string() +
              " stayed locked for " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
              " s)");
    }
    if (!said) {
      std::fprintf(stderr,
                   "ferry-publish: waiting for the lock on %s (another ferry-publish is "
                   "working on it)\n",
                   dir.c_str());
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fd;
}

}  // namespace ferry::publish
