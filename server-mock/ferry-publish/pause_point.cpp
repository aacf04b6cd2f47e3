#include "pause_point.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ferry/core/unique_fd.hpp"

namespace ferry::publish {

void PausePoint(std::string_view point) {
  static bool paused = false;
  const char* env = std::getenv("FERRY_PUBLISH_PAUSE");
  if (paused || env == nullptr) {
    return;
  }
  const std::string_view spec(env);
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos || spec.substr(0, colon) != point) {
    return;
  }
  paused = true;
  const std::string fifo(spec.substr(colon + 1));
  std::fprintf(stderr, "paused at %.*s\n", static_cast<int>(point.size()), point.data());
  std::fflush(stderr);
  UniqueFd fd;
  do {
    fd.Reset(::open(fifo.c_str(), O_RDONLY | O_CLOEXEC));
  } while (!fd.valid() && errno == EINTR);
  char buf[64];
  while (fd.valid()) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EINTR)) {
      break;
    }
  }
}

}  // namespace ferry::publish
