#include "app_logs.hpp"

#include <algorithm>
#include <fstream>
#include <system_error>

#include "ferry/manifest/manifest.hpp"

namespace ferry::daemon {
namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::json;

std::uint64_t SizeOf(const stdfs::path& p) {
  std::error_code ec;
  const auto size = stdfs::file_size(p, ec);
  return ec ? 0 : size;
}

// Bytes [from, from + max) of `path`; empty when it does not exist.
Result<std::string> ReadRange(const stdfs::path& path, std::uint64_t from, std::size_t max) {
  std::error_code ec;
  if (!stdfs::exists(path, ec)) {
    return std::string();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(Errc::kIo, "cannot open " + path.string());
  }
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(max, '\0');
  in.read(out.data(), static_cast<std::streamsize>(max));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

// The last `lines` lines of `text` (a trailing newline ends the last line, it does not start one).
std::string_view LastLines(std::string_view text, std::size_t lines) {
  if (lines == 0) {
    return {};
  }
  std::size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') {
    --end;
  }
  std::size_t count = 0;
  for (std::size_t i = end; i > 0; --i) {
    if (text[i - 1] == '\n' && ++count == lines) {
      return text.substr(i);
    }
  }
  return text;
}

}  // namespace

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      min = 0x10000;
    }
    bool ok = len > 0 && i + len <= text.size();
    std::uint32_t cp = len == 1 ? c : static_cast<std::uint32_t>(c & (0x7Fu >> len));
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | static_cast<std::uint32_t>(cc & 0x3Fu);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

Result<LogRequest> ParseLogRequest(const Json& params) {
  LogRequest r;
  if (!params.is_object() || !params.contains("app") || !params["app"].is_string() ||
      !manifest::IsValidName(params["app"].get<std::string>())) {
    return Fail(Errc::kInvalidArgument, "a valid \"app\" name is required");
  }
  r.app = params["app"].get<std::string>();
  if (params.contains("revision") && !params["revision"].is_null()) {
    if (!params["revision"].is_string()) {
      return Fail(Errc::kInvalidArgument, "\"revision\" must be a string");
    }
    r.revision = params["revision"].get<std::string>();
  }
  if (params.contains("lines")) {
    const Json& lines = params["lines"];
    if (!lines.is_number_integer() || lines.get<std::int64_t>() < 0) {
      return Fail(Errc::kInvalidArgument, "\"lines\" must be a count of lines");
    }
    r.lines = static_cast<std::size_t>(std::min<std::int64_t>(lines.get<std::int64_t>(), 100000));
  }
  if (params.contains("from")) {
    const Json& from = params["from"];
    if (!from.is_number_integer() || from.get<std::int64_t>() < 0) {
      return Fail(Errc::kInvalidArgument, "\"from\" must be a byte offset");
    }
    r.from = from.get<std::uint64_t>();
  }
  return r;
}

Result<Json> ReadAppLogs(store::StateStore& store, const engine::Layout& layout,
                         const LogRequest& request) {
  auto app = store.GetApp(request.app);
  if (!app) {
    return Fail(app.error());
  }
  std::string revision;
  if (request.revision) {
    // Only a revision the store knows for this app names a file: never a path from outside.
    auto revs = store.ListRevisions(request.app);
    if (!revs) {
      return Fail(revs.error());
    }
    const bool known = std::any_of(revs->begin(), revs->end(),
                                   [&](const auto& r) { return r.id == *request.revision; });
    if (!known) {
      return Fail(Errc::kNotFound,
                  request.app + " has no revision " + *request.revision + " (see ferry history)");
    }
    revision = *request.revision;
  } else if (app->current_revision) {
    revision = *app->current_revision;
  } else {
    return Fail(Errc::kNotFound,
                request.app + " runs no revision; name one with --revision (see ferry history)");
  }
  const stdfs::path live = layout.app_log(request.app, revision);
  const stdfs::path rotated = layout.rotated_app_log(request.app, revision);
  const std::uint64_t size = SizeOf(live);
  std::string text;
  std::uint64_t position = size;
  if (request.from) {
    const std::uint64_t from = *request.from > size ? 0 : *request.from;
    auto chunk = ReadRange(live, from, kMaxLogReply);
    if (!chunk) {
      return Fail(chunk.error());
    }
    text = std::move(*chunk);
    position = from + text.size();
  } else {
    const std::uint64_t live_from = size > kMaxLogReply ? size - kMaxLogReply : 0;
    auto tail = ReadRange(live, live_from, kMaxLogReply);
    if (!tail) {
      return Fail(tail.error());
    }
    position = live_from + tail->size();
    std::string both = std::move(*tail);
    if (live_from == 0 && both.size() < kMaxLogReply) {
      const std::uint64_t old_size = SizeOf(rotated);
      const std::uint64_t want = kMaxLogReply - both.size();
      auto older = ReadRange(rotated, old_size > want ? old_size - want : 0, kMaxLogReply);
      if (!older) {
        return Fail(older.error());
      }
      both = *older + both;
    }
    text = std::string(LastLines(both, request.lines));
  }
  return Json{{"app", request.app},
              {"revision", revision},
              {"path", live.string()},
              {"text", ValidUtf8(text)},
              {"position", position}};
}

}  // namespace ferry::daemon
