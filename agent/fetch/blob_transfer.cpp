#include "blob_transfer.hpp"

#include <algorithm>
#include <cctype>

#include "ferry/core/log.hpp"
#include "ferry/fetch/http_client.hpp"
#include "ferry/fetch/http_headers.hpp"

namespace ferry::fetch {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// The validator usable in If-Range: a strong ETag, else Last-Modified (RFC 9110 §13.1.5).
std::string ValidatorOf(const ResponseHead& head) {
  std::string etag = head.Field("etag");
  if (!etag.empty() && !etag.starts_with("W/")) {
    return etag;
  }
  return head.Field("last-modified");
}

void SetOutcome(Transfer& t, Error error, bool retryable, bool restart = false) {
  t.outcome.error = std::move(error);
  t.outcome.retryable = retryable;
  t.outcome.restart = restart;
}

// Decides, once the headers are in, whether the body is the continuation we asked for, a whole new
// body, or an error; returns whether to take the body.
bool Decide(Transfer& t) {
  t.decided = true;
  const std::string& url = t.request->url;
  const long status = t.head.status;
  const std::string what = "GET " + url + ": HTTP " + std::to_string(status);
  if (status == 206) {
    const std::string value = t.head.Field("content-range");
    const auto range = ParseContentRange(value);
    if (!range || range->first != t.start_offset || range->total != t.request->size) {
      SetOutcome(
          t,
          MakeError(FetchErrc::kBadRange,
                    what + " with Content-Range '" + value + "' for a resume at byte " +
                        std::to_string(t.start_offset) + " of " + std::to_string(t.request->size) +
                        "; partial file discarded, starting over"),
          true, true);
      return false;
    }
    if (t.validator->empty()) {
      *t.validator = ValidatorOf(t.head);  // the partial bytes came without one (no store)
    }
    return t.accept_body = true;
  }
  if (status == 200) {
    if (t.file->size() != 0) {
      // The server sent the whole body (it ignores Range, or the validator changed): the old
      // bytes are dropped, never spliced with the new ones.
      if (auto s = t.file->Truncate(); !s) {
        SetOutcome(t, std::move(s.error()), false);
        return false;
      }
      t.start_offset = 0;
      ++t.stats->restarts;
    }
    *t.validator = ValidatorOf(t.head);
    if (t.resume_store != nullptr) {
      const ResumeRecord record{url, 0, t.request->size, *t.validator};
      if (auto s = t.resume_store->Save(t.request->digest, record); !s) {
        SetOutcome(t, std::move(s.error()).WithContext("recording download " + url), false);
        return false;
      }
    }
    return t.accept_body = true;
  }
  if (status == 416) {
    SetOutcome(t,
               MakeError(FetchErrc::kBadRange, what + " for a resume at byte " +
                                                   std::to_string(t.start_offset) +
                                                   "; partial file discarded, starting over"),
               true, true);
    return false;
  }
  if (status == 404 || status == 410) {
    SetOutcome(t, MakeError(FetchErrc::kNotFound, what), false);
    return false;
  }
  const bool retryable = status == 408 || status == 429 || status == 500 || status == 502 ||
                         status == 503 || status == 504;
  if (status == 429 || status == 503) {
    const std::string value = t.head.Field("retry-after");
    if (!value.empty()) {
      t.outcome.retry_after = ParseRetryAfter(value, t.wall_now);
    }
  }
  SetOutcome(t, MakeError(FetchErrc::kHttpStatus, what), retryable);
  return false;
}

}  // namespace

void DecideWithoutBody(Transfer& t) {
  if (!t.decided) {
    (void)Decide(t);
  }
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (line.starts_with("HTTP/")) {
    t->head = ResponseHead{};
    const auto sp = line.find(' ');
    if (sp != std::string_view::npos) {
      const std::string_view code = line.substr(sp + 1, 3);
      long v = 0;
      for (const char c : code) {
        v = (c >= '0' && c <= '9') ? v * 10 + (c - '0') : -1000;
      }
      t->head.status = v;
    }
    return n;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    t->head.fields[Lower(line.substr(0, colon))] = std::string(value);
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (!t->decided && !Decide(*t)) {
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR; the outcome says why
  }
  if (!t->accept_body) {
    return 0;
  }
  t->stats->bytes_received += n;
  const std::uint64_t room = t->request->size - t->file->size();
  const size_t take = static_cast<size_t>(std::min<std::uint64_t>(room, n));
  if (take > 0) {
    if (auto s = t->file->Append(std::string_view(data, take)); !s) {
      SetOutcome(*t, std::move(s.error()).WithContext("GET " + t->request->url), false);
      return 0;
    }
  }
  if (*t->progress) {
    (*t->progress)(t->file->size(), t->request->size);
  }
  if (t->resume_store != nullptr && t->file->size() >= t->recorded + kRecordEvery) {
    t->recorded = t->file->size();
    const ResumeRecord record{t->request->url, t->recorded, t->request->size, *t->validator};
    if (auto s = t->resume_store->Save(t->request->digest, record); !s) {
      // Only the progress figure is lost; the bytes are on disk and the transfer goes on.
      log::warn("GET {}: recording progress: {}", t->request->url, s.error().message());
    }
  }
  if (take < n) {
    t->cut = true;  // no byte past the signed size is accepted
    return 0;
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* t = static_cast<Transfer*>(user);
  return (t->cancel != nullptr && t->cancel->cancelled()) ? 1 : 0;
}

}  // namespace ferry::fetch
