#include "support/loopback_http_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "support/loopback_listener.hpp"

namespace ferry::testing {
namespace {

constexpr std::size_t kMaxHead = 65536;

// Reads one request; false when the peer closed first or sent no valid request line.
bool ReadRequest(int fd, LoopbackHttpRequest& request) {
  std::string data;
  char buf[4096];
  std::size_t head_end = std::string::npos;
  std::size_t want = 0;
  while (head_end == std::string::npos || data.size() < head_end + want) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      return false;
    }
    data.append(buf, static_cast<std::size_t>(n));
    if (head_end == std::string::npos) {
      const auto blank = data.find("\r\n\r\n");
      if (blank == std::string::npos) {
        if (data.size() >= kMaxHead) {
          return false;
        }
        continue;
      }
      head_end = blank + 4;
      const auto cl = data.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end) {
        want = std::stoul(data.substr(cl + 16));
      }
    }
  }
  request.head = data.substr(0, head_end);
  request.body = data.substr(head_end, want);
  const auto first_space = request.head.find(' ');
  const auto second_space = request.head.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) {
    return false;
  }
  request.method = request.head.substr(0, first_space);
  request.path = request.head.substr(first_space + 1, second_space - first_space - 1);
  return true;
}

void WriteAll(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;  // the client hung up (for example after its byte limit)
    }
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

LoopbackHttpServer::LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
  const auto listener = ListenOnLoopback();
  listen_fd_ = listener.fd;
  port_ = listener.port;
  thread_ = std::thread([this] { Serve(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  {
    std::lock_guard lock(mu_);
    if (current_fd_ >= 0) {
      ::shutdown(current_fd_, SHUT_RDWR);  // wakes a recv() or send() in progress
    }
  }
  thread_.join();
  ::close(listen_fd_);
  for (int fd : held_) {
    ::close(fd);
  }
}

std::vector<LoopbackHttpRequest> LoopbackHttpServer::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::string LoopbackHttpServer::LastHead() const {
  std::lock_guard lock(mu_);
  return requests_.empty() ? std::string() : requests_.back().head;
}

void LoopbackHttpServer::Serve() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;  // EINTR, ECONNABORTED, or the shutdown that ends the loop
    }
    ++connections_;
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      current_fd_ = fd;
    }
    Answer(fd);
  }
}

void LoopbackHttpServer::Answer(int fd) {
  LoopbackHttpRequest request;
  LoopbackHttpReply reply;
  const bool read = ReadRequest(fd, request);
  if (read) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    reply = handler_(request);
    if (!reply.hold) {
      WriteAll(fd, reply.bytes);
    }
  }
  std::lock_guard lock(mu_);
  current_fd_ = -1;
  if (read && reply.hold) {
    held_.push_back(fd);
  } else {
    ::close(fd);
  }
}

LoopbackHttpServer::Handler AlwaysReply(std::string bytes) {
  return
      [bytes = std::move(bytes)](const LoopbackHttpRequest&) { return LoopbackHttpReply{bytes}; };
}

LoopbackHttpServer::Handler HoldSilently() {
  return [](const LoopbackHttpRequest&) { return LoopbackHttpReply{{}, /*hold=*/true}; };
}

}  // namespace ferry::testing
