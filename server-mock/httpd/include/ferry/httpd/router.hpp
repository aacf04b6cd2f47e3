// Routes: method + path pattern → handler. A pattern is a '/'-separated list of segments, each a
// literal ("_faults"), a capture of one segment ("{id}"), or, last only, a capture of the rest of
// the path ("{path...}", which also matches an empty rest). When several routes match a path the
// most specific wins: segment by segment, literal beats capture beats rest-capture.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/httpd/message.hpp"

namespace ferry::httpd {

using Handler = std::function<Response(const Request&)>;

inline constexpr std::size_t kDefaultBodyLimit = 1u << 20;

class Router {
 public:
  // Registers `handler` for `methods` on `pattern`. Requests to the route may carry a body of at
  // most `body_limit` bytes (larger ones get 413 before the body is read). Fails (kBadRoute) on a
  // malformed pattern or when a method is already routed for the same pattern.
  Status Add(std::initializer_list<http::verb> methods, std::string_view pattern, Handler handler,
             std::size_t body_limit = kDefaultBodyLimit);

  struct Match {
    const Handler* handler = nullptr;
    std::size_t body_limit = 0;
    RouteParams params;
  };
  struct Lookup {
    std::optional<Match> match;       // set when a route takes this method and path
    std::vector<http::verb> allowed;  // methods of the best path match when `match` is empty
  };
  // Finds the route for `method` and the raw `path`. When a route matches the path but not the
  // method, `allowed` lists the methods it takes (for 405); when nothing matches, both are empty.
  // A route that takes GET also answers HEAD (the server sends no body), and lists HEAD.
  // Thread-safe for concurrent lookups once all routes are added.
  Lookup Find(http::verb method, std::string_view path) const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kCapture, kRest };
    Kind kind;
    std::string text;  // literal text or capture name
  };
  struct Route {
    std::string pattern;
    std::vector<Segment> segments;
    std::vector<http::verb> methods;
    Handler handler;
    std::size_t body_limit;
  };
  static std::optional<RouteParams> MatchPath(const Route& route, std::string_view path);
  static bool MoreSpecific(const Route& a, const Route& b);

  std::vector<Route> routes_;
};

}  // namespace ferry::httpd
