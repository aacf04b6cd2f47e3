// A listening TCP socket on 127.0.0.1 at a port the kernel picks, for servers inside tests.
#pragma once

#include <cstdint>

namespace ferry::testing {

struct LoopbackListener {
  int fd;
  std::uint16_t port;
};

// Throws std::runtime_error when the socket cannot be set up; the caller closes `fd`.
LoopbackListener ListenOnLoopback();

}  // namespace ferry::testing
