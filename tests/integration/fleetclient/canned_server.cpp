#include "canned_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "support/loopback_listener.hpp"

namespace ferry::testing {
namespace {

// Reads a request head and its Content-Length body; returns the head.
std::string ReadRequest(int fd) {
  std::string data;
  char buf[4096];
  std::size_t head_end = std::string::npos;
  std::size_t want = 0;
  while (true) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const auto cl = data.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) {
          want = std::stoul(data.substr(cl + 16));
        }
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + want) {
      return data.substr(0, head_end);
    }
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      return data;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

CannedServer::CannedServer(std::string reply, bool silent)
    : reply_(std::move(reply)), silent_(silent) {
  const auto listener = ListenOnLoopback();
  listen_fd_ = listener.fd;
  port_ = listener.port;
  thread_ = std::thread([this] { Loop(); });
}

CannedServer::~CannedServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  thread_.join();
  ::close(listen_fd_);
  for (int fd : held_) {
    ::close(fd);
  }
}

std::string CannedServer::last_request() const {
  std::lock_guard lock(mu_);
  return last_request_;
}

void CannedServer::Loop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    ++connections_;
    if (silent_) {
      held_.push_back(fd);
      continue;
    }
    std::string head = ReadRequest(fd);
    {
      std::lock_guard lock(mu_);
      last_request_ = std::move(head);
    }
    std::size_t sent = 0;
    while (sent < reply_.size()) {
      const ssize_t n = ::send(fd, reply_.data() + sent, reply_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
}

}  // namespace ferry::testing
