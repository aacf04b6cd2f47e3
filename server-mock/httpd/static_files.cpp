#include "ferry/httpd/static_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "ferry/core/log.hpp"
#include "ferry/httpd/error.hpp"
#include "ferry/httpd/http_date.hpp"
#include "ferry/httpd/range.hpp"
#include "ferry/httpd/server.hpp"
#include "ferry/httpd/target_path.hpp"

namespace ferry::httpd {
namespace {

constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;  // a FIFO must not block

// Some sandboxes filter openat2 (ENOSYS or EPERM); then the realpath check takes over for good.
std::atomic<bool> openat2_works{true};

std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string MakeEtag(const struct stat& st) {
  const auto mtime_ns = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                        static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
  return "\"" + Hex(static_cast<std::uint64_t>(st.st_ino)) + "-" +
         Hex(static_cast<std::uint64_t>(st.st_size)) + "-" + Hex(mtime_ns) + "\"";
}

// Entity tags of an If-None-Match list, each with its quotes and without "W/". "*" is returned
// as "*".
std::vector<std::string_view> EntityTags(std::string_view list) {
  std::vector<std::string_view> tags;
  std::size_t i = 0;
  while (i < list.size()) {
    const char c = list[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    if (c == '*') {
      tags.push_back("*");
      ++i;
      continue;
    }
    if (list.substr(i, 2) == "W/") {
      i += 2;
    }
    if (i >= list.size() || list[i] != '"') {
      break;  // malformed: stop, keeping what parsed
    }
    const auto close = list.find('"', i + 1);
    if (close == std::string_view::npos) {
      break;
    }
    tags.push_back(list.substr(i, close - i + 1));
    i = close + 1;
  }
  return tags;
}

bool NoneMatchHits(std::string_view header, const std::string& etag) {
  for (const auto tag : EntityTags(header)) {
    if (tag == "*" || tag == etag) {
      return true;
    }
  }
  return false;
}

// If-Range (RFC 9110 §13.1.5): a strong entity tag or the exact Last-Modified date.
bool IfRangeHolds(std::string_view value, const std::string& etag, std::time_t mtime) {
  if (value.starts_with('"')) {
    return value == etag;
  }
  if (value.starts_with("W/")) {
    return false;
  }
  const auto date = ParseHttpDate(value);
  return date && *date == mtime;
}

}  // namespace

Result<std::shared_ptr<StaticFiles>> StaticFiles::Open(const std::filesystem::path& root,
                                                       Confinement confinement) {
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(MakeError(HttpdErrc::kBadRoot, ErrnoError("open " + root.string()).message()));
  }
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) == nullptr) {
    return Fail(MakeError(HttpdErrc::kBadRoot, ErrnoError("realpath " + root.string()).message()));
  }
  return std::shared_ptr<StaticFiles>(new StaticFiles(std::move(fd), real, confinement));
}

int StaticFiles::OpenBeneath(const std::string& relative) const {
  if (confinement_ == Confinement::kKernel && openat2_works.load(std::memory_order_relaxed)) {
    struct open_how how {};
    how.flags = static_cast<std::uint64_t>(kOpenFlags);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, root_fd_.get(), relative.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) {
      return static_cast<int>(fd);
    }
    log::warn("openat2 unavailable ({}); confining paths with realpath", std::strerror(errno));
    openat2_works.store(false, std::memory_order_relaxed);
  }
  const std::string joined = root_real_ + "/" + relative;
  char real[PATH_MAX];
  if (::realpath(joined.c_str(), real) == nullptr) {
    return -1;
  }
  const std::string_view resolved(real);
  if (!resolved.starts_with(root_real_) ||
      (resolved.size() > root_real_.size() && root_real_ != "/" &&
       resolved[root_real_.size()] != '/')) {
    errno = EXDEV;
    return -1;
  }
  return ::open(real, kOpenFlags | O_NOFOLLOW);
}

Response StaticFiles::Serve(const Request& request, std::string_view raw_path) const {
  const auto& message = request.message;
  auto relative = NormalizeTargetPath(raw_path);
  if (!relative) {
    log::info("{}: refused path {}: {}", FormatEndpoint(request.remote), raw_path,
              relative.error().message());
    return Response::Text(http::status::bad_request, "bad path");
  }
  if (relative->empty()) {
    return Response::Text(http::status::not_found, "not found");
  }
  const int fd = OpenBeneath(*relative);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES) {
      return Response::Text(http::status::forbidden, "forbidden");
    }
    if (err != ENOENT && err != ENOTDIR && err != EXDEV && err != ELOOP && err != ENAMETOOLONG) {
      log::warn("open {}: {}", *relative, std::strerror(err));
    }
    return Response::Text(http::status::not_found, "not found");
  }
  FileHandle file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Response::Text(http::status::not_found, "not found");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::string etag = MakeEtag(st);
  const std::time_t mtime = st.st_mtim.tv_sec;

  Response response;
  response.headers.set(http::field::etag, etag);
  response.headers.set(http::field::last_modified, FormatHttpDate(mtime));
  response.headers.set(http::field::accept_ranges, "bytes");
  response.headers.set(http::field::content_type, ContentTypeFor(*relative));

  // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
  const auto none_match = message.find(http::field::if_none_match);
  if (none_match != message.end()) {
    if (NoneMatchHits(none_match->value(), etag)) {
      response.status = http::status::not_modified;
      return response;
    }
  } else if (const auto since = message.find(http::field::if_modified_since);
             since != message.end()) {
    const auto date = ParseHttpDate(since->value());
    if (date && mtime <= *date) {
      response.status = http::status::not_modified;
      return response;
    }
  }

  const auto range = message.find(http::field::range);
  if (range != message.end()) {
    const auto if_range = message.find(http::field::if_range);
    if (if_range == message.end() || IfRangeHolds(if_range->value(), etag, mtime)) {
      const RangeRequest parsed = ParseRange(range->value(), size);
      switch (parsed.kind) {
        case RangeRequest::Kind::kFull:
          break;
        case RangeRequest::Kind::kPartial:
          response.status = http::status::partial_content;
          response.headers.set(http::field::content_range, ContentRangeValue(parsed.range, size));
          response.body = FileBody{file, parsed.range.first, parsed.range.length};
          response.resource_offset = parsed.range.first;
          return response;
        case RangeRequest::Kind::kUnsatisfiable:
          response.status = http::status::range_not_satisfiable;
          response.headers.set(http::field::content_range, "bytes */" + std::to_string(size));
          return response;
      }
    }
  }
  response.body = FileBody{file, 0, size};
  return response;
}

Handler StaticFilesHandler(std::shared_ptr<const StaticFiles> files) {
  return [files = std::move(files)](const Request& request) {
    return files->Serve(request, "/" + std::string(request.Param("path")));
  };
}

std::string_view ContentTypeFor(std::string_view name) {
  if (name.ends_with(".json")) {
    return "application/json";
  }
  return "application/octet-stream";
}

}  // namespace ferry::httpd
