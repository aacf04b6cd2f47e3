// Fault injection for tests: a server that drops, slows, corrupts, refuses or mis-labels responses
// on purpose, so clients can be tested against a bad network and a bad server. The text syntax is
// documented in docs/server.md:
//
//   KIND[:KEY=VALUE[,KEY=VALUE...]]
//   drop:after=N  throttle:rate=B  flip:offset=K  status:code=503,retry-after=S
//   ignore-range  content-range:shift=D
//   common keys: path=GLOB (default *), first=M (only the first M matching requests)
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/core/result.hpp"
#include "ferry/httpd/router.hpp"

namespace ferry::httpd {

enum class FaultKind {
  kDrop,          // close the connection after `after` body bytes
  kThrottle,      // send the body at `rate` bytes per second
  kFlip,          // invert the byte at resource offset `offset`
  kStatus,        // answer `code` with Retry-After: `retry_after` instead of the resource
  kIgnoreRange,   // act as if the request had no Range (full 200 body)
  kContentRange,  // shift both positions of a 206's Content-Range by `shift` (body unchanged)
};

struct FaultSpec {
  FaultKind kind = FaultKind::kDrop;
  std::string path = "*";              // glob over the decoded request path
  std::optional<std::uint64_t> first;  // apply to the first M matching requests only
  std::uint64_t after = 0;             // drop
  std::uint64_t rate = 0;              // throttle, > 0
  std::uint64_t offset = 0;            // flip
  unsigned code = 503;                 // status, 400..599
  std::uint64_t retry_after = 1;       // status, seconds
  std::int64_t shift = 1;              // content-range, != 0

  bool operator==(const FaultSpec&) const = default;
};

// Parses the text form. Fails with kBadFaultSpec naming the problem: unknown kind or key, a key
// that does not belong to the kind, a missing required key, a value out of range.
Result<FaultSpec> ParseFaultSpec(std::string_view text);

// The canonical text form; ParseFaultSpec(FormatFaultSpec(s)) == s.
std::string FormatFaultSpec(const FaultSpec& spec);

// Shell-style glob ('*', '?', '[...]'); '*' also matches '/', so "/blobs/*" covers every file below
// /blobs.
bool GlobMatch(std::string_view glob, std::string_view text);

// The faults in force. Thread-safe.
class FaultSet {
 public:
  struct Entry {
    FaultSpec spec;
    std::uint64_t hits = 0;  // matching requests so far
  };

  void Add(FaultSpec spec);
  void Clear();
  std::vector<Entry> List() const;

  // The faults that apply to a request for `path` (decoded), in the order they were added. Each
  // returned fault counts this request; a fault with `first` set stops applying after M requests.
  std::vector<FaultSpec> Take(std::string_view path);

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// Wraps `inner` so that the faults in `faults` apply to its responses. A status fault answers
// without calling `inner`; ignore-range removes Range and If-Range before calling it; the other
// kinds change the response `inner` returns.
Handler WithFaults(std::shared_ptr<FaultSet> faults, Handler inner);

// Adds GET, POST and DELETE on /_faults: GET lists the faults in force with their hit counts,
// POST adds faults from {"faults": ["SPEC", ...]}, DELETE removes them all. Every call must come
// from a loopback peer (else 403) with "Authorization: Bearer TOKEN" (else 401). Wrong tokens
// are budgeted: 10 at once, then one a second (time from `clock`, which must outlive the
// router); past the budget every call gets 429 and its connection is closed, before any token
// is compared.
Status AddFaultAdminRoutes(Router& router, std::shared_ptr<FaultSet> faults, std::string token,
                           const Clock& clock);

}  // namespace ferry::httpd
