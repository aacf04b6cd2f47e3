#include "raw_http.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>

namespace ferry::testing {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string RawResponse::Header(std::string_view name) const {
  const auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

bool RawResponse::Has(std::string_view name) const { return headers.contains(Lower(name)); }

RawConnection::RawConnection(std::uint16_t port) : RawConnection(port, nullptr) {}

RawConnection::RawConnection(std::uint16_t port, const char* source) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ >= 0 && source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      throw std::runtime_error(std::string("cannot bind to ") + source);
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // the server closed; the next Read tells the test
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<ssize_t> RawConnection::Receive(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    return std::nullopt;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
    return std::nullopt;
  }
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n > 0) {
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
  return n;
}

bool RawConnection::Fill(std::chrono::steady_clock::time_point deadline) {
  const auto n = Receive(deadline);
  return n && *n > 0;
}

std::optional<RawResponse> RawConnection::Read(bool head, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end = 0;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline)) {
      return std::nullopt;
    }
  }
  RawResponse r;
  const std::string header = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  std::size_t line_end = header.find("\r\n");
  const std::string status_line = header.substr(0, line_end);
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) {
    return std::nullopt;
  }
  r.status = std::stoi(status_line.substr(9, 3));
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = header.find("\r\n", start);
    const std::string line = header.substr(start, line_end - start);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[Lower(line.substr(0, colon))] = value;
    }
  }
  std::size_t length = 0;
  if (r.Has("content-length")) {
    length = std::stoul(r.Header("content-length"));
  }
  if (head || r.status == 304 || r.status == 204 || r.status < 200) {
    length = 0;
  }
  while (buffer_.size() < length && Fill(deadline)) {
  }
  const std::size_t take = std::min(length, buffer_.size());
  r.body = buffer_.substr(0, take);
  buffer_.erase(0, take);
  r.complete = take == length;
  return r;
}

bool RawConnection::PeerClosed(std::chrono::milliseconds timeout) {
  // Body bytes the peer sent before closing may still be queued: read past them to the end.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto n = Receive(deadline);
    if (!n) {
      return false;
    }
    if (*n == 0 || (*n < 0 && errno == ECONNRESET)) {
      return true;
    }
    if (*n < 0) {
      return false;
    }
  }
}

std::optional<RawResponse> Fetch(std::uint16_t port, std::string_view method,
                                 std::string_view target, std::string_view headers) {
  RawConnection c(port);
  c.Send(std::string(method) + " " + std::string(target) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + std::string(headers) + "\r\n");
  return c.Read(method == "HEAD");
}

RawResponse Get(std::uint16_t port, std::string_view target, std::string_view headers) {
  auto r = Fetch(port, "GET", target, headers);
  EXPECT_TRUE(r.has_value()) << target;
  return r.value_or(RawResponse{});
}

}  // namespace ferry::testing
