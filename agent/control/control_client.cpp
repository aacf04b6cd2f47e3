#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ferry/control/control.hpp"
#include "ferry/core/json_depth.hpp"
#include "ferry/core/unique_fd.hpp"

namespace ferry::control {
namespace {

Errc CodeFromName(const std::string& name) {
  static const std::pair<const char*, Errc> kNames[] = {
      {"invalid_argument", Errc::kInvalidArgument},
      {"unknown_method", Errc::kUnsupported},
      {"not_found", Errc::kNotFound},
      {"already_exists", Errc::kAlreadyExists},
      {"io", Errc::kIo},
      {"corrupt", Errc::kCorrupt},
      {"unavailable", Errc::kUnavailable},
      {"timeout", Errc::kTimeout},
      {"cancelled", Errc::kCancelled},
      {"permission_denied", Errc::kPermissionDenied},
      {"no_space", Errc::kNoSpace},
      {"unsupported", Errc::kUnsupported},
      {"limit_exceeded", Errc::kLimitExceeded},
      {"failed_precondition", Errc::kFailedPrecondition},
  };
  for (const auto& [n, code] : kNames) {
    if (name == n) {
      return code;
    }
  }
  return Errc::kFailedPrecondition;
}

// Waits until fd is ready for `events` or the deadline passes.
Status WaitReady(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const bool forever = deadline == std::chrono::steady_clock::time_point::max();
    const auto left = forever ? std::chrono::milliseconds(-1)
                              : std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now());
    if (!forever && left.count() <= 0) {
      return Fail(Errc::kTimeout, "ferryd did not answer in time");
    }
    pollfd p{fd, events, 0};
    const int r =
        ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 24LL * 3600 * 1000)));
    if (r > 0) {
      return Ok();
    }
    if (r < 0 && errno != EINTR) {
      return Fail(ErrnoError("poll"));
    }
  }
}

}  // namespace

Result<Json> Call(const std::filesystem::path& socket_path, const std::string& method,
                  const Json& params, std::chrono::milliseconds timeout) {
  const auto deadline = timeout == kNoTimeout ? std::chrono::steady_clock::time_point::max()
                                              : std::chrono::steady_clock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.string().size() >= sizeof addr.sun_path) {
    return Fail(Errc::kInvalidArgument, "socket path too long: " + socket_path.string());
  }
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return Fail(ErrnoError("socket"));
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    Error e = ErrnoError("cannot connect to ferryd at " + socket_path.string(), err);
    const Errc code =
        (err == EACCES || err == EPERM) ? Errc::kPermissionDenied : Errc::kUnavailable;
    return Fail(Error(make_error_code(code), e.message()));
  }
  const std::string line = Json{{"id", 1}, {"method", method}, {"params", params}}.dump() + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    if (auto st = WaitReady(fd.get(), POLLOUT, deadline); !st) {
      return Fail(st.error());
    }
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return Fail(ErrnoError("sending to ferryd"));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[65536];
  while (reply.find('\n') == std::string::npos) {
    if (auto st = WaitReady(fd.get(), POLLIN, deadline); !st) {
      return Fail(st.error());
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Fail(ErrnoError("reading from ferryd"));
    }
    if (n == 0) {
      return Fail(Errc::kCancelled, "ferryd closed the connection without answering");
    }
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > 64 * kMaxLineBytes) {
      return Fail(Errc::kLimitExceeded, "reply from ferryd is too large");
    }
  }
  reply.resize(reply.find('\n'));
  auto parsed = ParseBoundedJson(reply, JsonBounds{reply.size(), 64});
  Json j = parsed ? std::move(*parsed) : Json();
  if (!j.is_object() || !j.contains("ok")) {
    return Fail(Errc::kCorrupt, "ferryd sent a malformed reply");
  }
  if (j["ok"] == true) {
    return j.value("result", Json::object());
  }
  const Json err = j.value("error", Json::object());
  return Fail(CodeFromName(err.value("code", "")), err.value("message", "unknown error"));
}

}  // namespace ferry::control
