#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>

#include "ferry/core/json_depth.hpp"
#include "ferry/core/log.hpp"
#include "ferry/httpd/error.hpp"
#include "ferry/httpd/fault.hpp"
#include "ferry/httpd/server.hpp"
#include "ferry/httpd/target_path.hpp"

namespace ferry::httpd {
namespace {

using json = nlohmann::json;

// "bytes a-b/len" with both positions moved by `shift` (clamped at 0); other values unchanged.
std::string ShiftContentRange(std::string_view value, std::int64_t shift) {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (!value.starts_with("bytes ")) {
    return std::string(value);
  }
  const auto dash = value.find('-');
  const auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::string(value);
  }
  const std::string_view first_text = value.substr(6, dash - 6);
  const std::string_view last_text = value.substr(dash + 1, slash - dash - 1);
  if (std::from_chars(first_text.data(), first_text.data() + first_text.size(), first).ec !=
          std::errc() ||
      std::from_chars(last_text.data(), last_text.data() + last_text.size(), last).ec !=
          std::errc()) {
    return std::string(value);
  }
  const auto move = [shift](std::uint64_t v) {
    if (shift < 0 && static_cast<std::uint64_t>(-shift) > v) {
      return std::uint64_t{0};
    }
    return shift < 0 ? v - static_cast<std::uint64_t>(-shift)
                     : v + static_cast<std::uint64_t>(shift);
  };
  return "bytes " + std::to_string(move(first)) + "-" + std::to_string(move(last)) +
         std::string(value.substr(slash));
}

std::string ListJson(const FaultSet& faults) {
  json list = json::array();
  for (const auto& entry : faults.List()) {
    list.push_back({{"spec", FormatFaultSpec(entry.spec)}, {"hits", entry.hits}});
  }
  return json{{"faults", std::move(list)}}.dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n";
}

// Wrong admin tokens, budgeted as a token bucket: kBurst at once, one a second after.
class FailureBudget {
 public:
  explicit FailureBudget(const Clock& clock) : clock_(clock), updated_(clock.Now()) {}

  // Whole seconds until a failure would be allowed again; 0 when one is.
  std::int64_t Wait() {
    std::lock_guard lock(mu_);
    Refill();
    return tokens_ >= 1.0 ? 0 : static_cast<std::int64_t>(std::ceil(1.0 - tokens_));
  }
  void Spend() {
    std::lock_guard lock(mu_);
    Refill();
    tokens_ = std::max(0.0, tokens_ - 1.0);
  }

 private:
  static constexpr double kBurst = 10;
  void Refill() {
    const auto now = clock_.Now();
    tokens_ =
        std::min(kBurst, tokens_ + std::chrono::duration<double>(now - updated_).count() * 1.0);
    updated_ = now;
  }

  const Clock& clock_;
  std::mutex mu_;
  double tokens_ = kBurst;
  Clock::TimePoint updated_;
};

// Refuses callers that are not on this machine or do not present the token; nullopt lets the
// request through.
std::optional<Response> Refuse(const Request& request, const std::string& token,
                               FailureBudget& budget) {
  if (!IsLoopback(request.remote.address())) {
    log::warn("{}: refused fault admin request from a non-loopback peer",
              FormatEndpoint(request.remote));
    return Response::Text(http::status::forbidden, "fault admin is for loopback peers only");
  }
  if (const auto wait = budget.Wait(); wait > 0) {
    Response r = Response::Text(http::status::too_many_requests, "too many wrong tokens");
    r.headers.set(http::field::retry_after, std::to_string(wait));
    r.close = true;
    return r;
  }
  const std::string expected = "Bearer " + token;
  const auto presented = request.message[http::field::authorization];
  if (presented.size() != expected.size() ||
      CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) != 0) {
    budget.Spend();
    Response r = Response::Text(http::status::unauthorized, "missing or wrong token");
    r.headers.set(http::field::www_authenticate, "Bearer realm=\"ferry-server\"");
    return r;
  }
  return std::nullopt;
}

}  // namespace

Handler WithFaults(std::shared_ptr<FaultSet> faults, Handler inner) {
  return [faults = std::move(faults), inner = std::move(inner)](const Request& request) {
    const auto decoded = PercentDecode(request.path);
    const std::vector<FaultSpec> active =
        faults->Take(decoded ? std::string_view(*decoded) : request.path);
    if (active.empty()) {
      return inner(request);
    }
    bool ignore_range = false;
    for (const FaultSpec& spec : active) {
      if (spec.kind == FaultKind::kStatus) {
        Response r = Response::Text(static_cast<http::status>(spec.code),
                                    "fault injected: " + FormatFaultSpec(spec));
        r.headers.set(http::field::retry_after, std::to_string(spec.retry_after));
        return r;
      }
      ignore_range = ignore_range || spec.kind == FaultKind::kIgnoreRange;
    }
    Response response;
    if (ignore_range) {
      HttpRequest stripped = request.message;
      stripped.erase(http::field::range);
      stripped.erase(http::field::if_range);
      response =
          inner(Request{stripped, request.remote, request.path, request.query, request.params});
    } else {
      response = inner(request);
    }
    for (const FaultSpec& spec : active) {
      switch (spec.kind) {
        case FaultKind::kDrop:
          response.faults.drop_after = spec.after;
          break;
        case FaultKind::kThrottle:
          response.faults.rate = spec.rate;
          break;
        case FaultKind::kFlip:
          response.faults.flip_at = spec.offset;
          break;
        case FaultKind::kContentRange:
          if (const auto it = response.headers.find(http::field::content_range);
              it != response.headers.end() && response.status == http::status::partial_content) {
            response.headers.set(http::field::content_range,
                                 ShiftContentRange(it->value(), spec.shift));
          }
          break;
        case FaultKind::kStatus:
        case FaultKind::kIgnoreRange:
          break;
      }
    }
    return response;
  };
}

Status AddFaultAdminRoutes(Router& router, std::shared_ptr<FaultSet> faults, std::string token,
                           const Clock& clock) {
  if (token.empty()) {
    return Fail(Errc::kInvalidArgument, "the fault admin token is empty");
  }
  constexpr std::size_t kAdminBodyLimit = 64 * 1024;
  return router.Add(
      {http::verb::get, http::verb::post, http::verb::delete_}, "/_faults",
      [faults = std::move(faults), token = std::move(token),
       budget = std::make_shared<FailureBudget>(clock)](const Request& request) {
        if (auto refusal = Refuse(request, token, *budget)) {
          return std::move(*refusal);
        }
        switch (request.message.method()) {
          case http::verb::post: {
            auto parsed = ParseBoundedJson(request.message.body(), JsonBounds{kAdminBodyLimit, 4});
            if (!parsed) {
              return Response::Text(http::status::bad_request, parsed.error().message());
            }
            const json body = std::move(*parsed);
            if (!body.is_object() || !body.contains("faults") || !body["faults"].is_array()) {
              return Response::Text(http::status::bad_request,
                                    "expected {\"faults\": [\"SPEC\", ...]}");
            }
            std::vector<FaultSpec> added;
            for (const json& item : body["faults"]) {
              if (!item.is_string()) {
                return Response::Text(http::status::bad_request, "each fault is a string");
              }
              auto spec = ParseFaultSpec(item.get<std::string>());
              if (!spec) {
                return Response::Text(http::status::bad_request, spec.error().message());
              }
              added.push_back(std::move(*spec));
            }
            for (auto& spec : added) {
              log::info("fault added: {}", FormatFaultSpec(spec));
              faults->Add(std::move(spec));
            }
            break;
          }
          case http::verb::delete_:
            log::info("faults cleared");
            faults->Clear();
            break;
          default:
            break;
        }
        return Response::Json(http::status::ok, ListJson(*faults));
      },
      kAdminBodyLimit);
}

}  // namespace ferry::httpd
