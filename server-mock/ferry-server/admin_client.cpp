#include "admin_client.hpp"

#include <curl/curl.h>

#include <memory>

namespace ferry::server {
namespace {

std::size_t Append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

AdminReply AdminClient::Call(const std::string& method, const std::string& path,
                             const std::optional<nlohmann::json>& body) const {
  AdminReply reply;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    reply.error = "cannot initialize libcurl";
    return reply;
  }
  std::string url = base_url_;
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  url += path;
  const std::string auth = "Authorization: Bearer " + token_;
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  std::string payload;
  if (body) {
    payload = body->dump();
    headers = curl_slist_append(headers, "Content-Type: application/json");
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                           &curl_slist_free_all);
  std::string received;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!tls_.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, tls_.ca_file.c_str());
  }
  if (!tls_.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, tls_.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, tls_.key_file.c_str());
  }
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    reply.error = std::string("cannot reach ") + url + ": " + curl_easy_strerror(rc);
    return reply;
  }
  reply.reached = true;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = nlohmann::json::parse(received, nullptr, false);
  if (reply.body.is_discarded()) {
    reply.body = nullptr;
  }
  if (reply.status >= 400) {
    reply.error = "HTTP " + std::to_string(reply.status);
    if (reply.body.is_object() && reply.body.contains("error") && reply.body["error"].is_string()) {
      reply.error += ": " + reply.body["error"].get<std::string>();
    }
  }
  return reply;
}

}  // namespace ferry::server
