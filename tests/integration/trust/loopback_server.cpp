#include "loopback_server.hpp"

namespace ferry::testing {
namespace {

std::string StoredPath(const LoopbackHttpRequest& request) {
  return request.path.starts_with("/") ? request.path.substr(1) : request.path;
}

}  // namespace

LoopbackServer::LoopbackServer() : server_([this](const auto& r) { return Answer(r); }) {}

void LoopbackServer::SetFiles(std::map<std::string, std::string> files) {
  std::lock_guard lock(mu_);
  files_ = std::move(files);
}

void LoopbackServer::SetFile(const std::string& path, std::string bytes) {
  std::lock_guard lock(mu_);
  files_[path] = std::move(bytes);
}

std::vector<std::string> LoopbackServer::Requests() const {
  std::vector<std::string> paths;
  for (const auto& request : server_.Requests()) {
    paths.push_back(StoredPath(request));
  }
  return paths;
}

void LoopbackServer::SetOmitContentLength(bool omit) {
  std::lock_guard lock(mu_);
  omit_content_length_ = omit;
}

LoopbackHttpReply LoopbackServer::Answer(const LoopbackHttpRequest& request) {
  std::lock_guard lock(mu_);
  const auto it = files_.find(StoredPath(request));
  if (it == files_.end()) {
    return {"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"};
  }
  std::string reply = "HTTP/1.1 200 OK\r\n";
  if (!omit_content_length_) {
    reply += "Content-Length: " + std::to_string(it->second.size()) + "\r\n";
  }
  return {reply + "Connection: close\r\n\r\n" + it->second};
}

}  // namespace ferry::testing
