#include "loopback_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "support/loopback_listener.hpp"

namespace ferry::testing {

LoopbackServer::LoopbackServer() {
  const auto listener = ListenOnLoopback();
  listen_fd_ = listener.fd;
  port_ = listener.port;
  thread_ = std::thread([this] { Serve(); });
}

LoopbackServer::~LoopbackServer() {
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  thread_.join();
  ::close(listen_fd_);
}

void LoopbackServer::SetFiles(std::map<std::string, std::string> files) {
  std::lock_guard lock(mu_);
  files_ = std::move(files);
}

void LoopbackServer::SetFile(const std::string& path, std::string bytes) {
  std::lock_guard lock(mu_);
  files_[path] = std::move(bytes);
}

std::vector<std::string> LoopbackServer::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void LoopbackServer::ClearRequests() {
  std::lock_guard lock(mu_);
  requests_.clear();
}

void LoopbackServer::SetOmitContentLength(bool omit) {
  std::lock_guard lock(mu_);
  omit_content_length_ = omit;
}

void LoopbackServer::Serve() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      return;  // shut down
    }
    Handle(fd);
    ::close(fd);
  }
}

void LoopbackServer::Handle(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      return;
    }
    request.append(buf, static_cast<std::size_t>(n));
  }
  const auto first_space = request.find(' ');
  const auto second_space = request.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) {
    return;
  }
  std::string path = request.substr(first_space + 1, second_space - first_space - 1);
  if (path.starts_with("/")) {
    path.erase(0, 1);
  }
  std::string response;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(path);
    const auto it = files_.find(path);
    if (it == files_.end()) {
      response =
          "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
    } else {
      response = "HTTP/1.1 200 OK\r\n";
      if (!omit_content_length_) {
        response += "Content-Length: " + std::to_string(it->second.size()) + "\r\n";
      }
      response += "Connection: close\r\n\r\n" + it->second;
    }
  }
  std::size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;  // the client hung up (for example after its byte limit)
    }
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace ferry::testing
