#include "ferry/httpd/message.hpp"

namespace ferry::httpd {

std::string_view Request::Param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

std::uint64_t Response::BodySize() const {
  if (const auto* text = std::get_if<std::string>(&body)) {
    return text->size();
  }
  if (const auto* file = std::get_if<FileBody>(&body)) {
    return file->length;
  }
  return 0;
}

Response Response::Text(http::status status, std::string text) {
  Response r;
  r.status = status;
  r.headers.set(http::field::content_type, "text/plain; charset=utf-8");
  if (!text.empty() && text.back() != '\n') {
    text.push_back('\n');
  }
  r.body = std::move(text);
  return r;
}

Response Response::Json(http::status status, std::string json) {
  Response r;
  r.status = status;
  r.headers.set(http::field::content_type, "application/json");
  r.body = std::move(json);
  return r;
}

}  // namespace ferry::httpd
