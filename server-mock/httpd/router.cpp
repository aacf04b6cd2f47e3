#include "ferry/httpd/router.hpp"

#include <algorithm>

#include "ferry/httpd/error.hpp"
#include "ferry/httpd/target_path.hpp"

namespace ferry::httpd {
namespace {

// Splits "/a/b" into {"a", "b"}; "/" gives {}, "/a/" gives {"a", ""}.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  if (path.empty()) {
    return out;
  }
  while (true) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool ValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

Status Router::Add(std::initializer_list<http::verb> methods, std::string_view pattern,
                   Handler handler, std::size_t body_limit) {
  if (pattern.empty() || pattern.front() != '/') {
    return Fail(HttpdErrc::kBadRoute, "route pattern must start with '/': " + std::string(pattern));
  }
  if (methods.size() == 0 || !handler) {
    return Fail(HttpdErrc::kBadRoute, "route without methods or handler: " + std::string(pattern));
  }
  Route route{std::string(pattern), {}, methods, std::move(handler), body_limit};
  const auto parts = SplitPath(pattern);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      std::string_view name = part.substr(1, part.size() - 2);
      Segment::Kind kind = Segment::Kind::kCapture;
      if (name.ends_with("...")) {
        name.remove_suffix(3);
        kind = Segment::Kind::kRest;
        if (i + 1 != parts.size()) {
          return Fail(HttpdErrc::kBadRoute, "rest capture must be last: " + std::string(pattern));
        }
      }
      if (!ValidName(name)) {
        return Fail(HttpdErrc::kBadRoute, "bad capture name in " + std::string(pattern));
      }
      route.segments.push_back({kind, std::string(name)});
    } else {
      if (part.find_first_of("{}") != std::string_view::npos) {
        return Fail(HttpdErrc::kBadRoute, "stray brace in " + std::string(pattern));
      }
      route.segments.push_back({Segment::Kind::kLiteral, std::string(part)});
    }
  }
  for (const Route& other : routes_) {
    if (other.pattern != route.pattern) {
      continue;
    }
    for (http::verb m : route.methods) {
      if (std::find(other.methods.begin(), other.methods.end(), m) != other.methods.end()) {
        return Fail(HttpdErrc::kBadRoute, "method routed twice for " + route.pattern);
      }
    }
  }
  routes_.push_back(std::move(route));
  return Ok();
}

std::optional<RouteParams> Router::MatchPath(const Route& route, std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return std::nullopt;
  }
  RouteParams params;
  std::string_view rest = path.substr(1);
  bool consumed = rest.empty();
  for (const Segment& segment : route.segments) {
    if (segment.kind == Segment::Kind::kRest) {
      params.emplace_back(segment.text, std::string(rest));
      return params;
    }
    if (consumed) {
      return std::nullopt;  // the path is shorter than the pattern
    }
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (slash == std::string_view::npos) {
      rest = {};
      consumed = true;
    } else {
      rest.remove_prefix(slash + 1);
    }
    if (segment.kind == Segment::Kind::kLiteral) {
      if (part != segment.text) {
        return std::nullopt;
      }
      continue;
    }
    auto decoded = PercentDecode(part);
    if (part.empty() || !decoded) {
      return std::nullopt;
    }
    params.emplace_back(segment.text, std::move(*decoded));
  }
  if (!consumed) {
    return std::nullopt;  // the path is longer than the pattern
  }
  return params;
}

bool Router::MoreSpecific(const Route& a, const Route& b) {
  const std::size_t n = std::min(a.segments.size(), b.segments.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto rank = [](Segment::Kind k) {
      switch (k) {
        case Segment::Kind::kLiteral:
          return 2;
        case Segment::Kind::kCapture:
          return 1;
        case Segment::Kind::kRest:
          return 0;
      }
      return 0;
    };
    const int ra = rank(a.segments[i].kind);
    const int rb = rank(b.segments[i].kind);
    if (ra != rb) {
      return ra > rb;
    }
  }
  return a.segments.size() > b.segments.size();
}

Router::Lookup Router::Find(http::verb method, std::string_view path) const {
  Lookup out;
  const Route* best = nullptr;
  RouteParams best_params;
  for (const Route& route : routes_) {
    auto params = MatchPath(route, path);
    if (!params) {
      continue;
    }
    const auto routes = [&](http::verb m) {
      return std::find(route.methods.begin(), route.methods.end(), m) != route.methods.end();
    };
    // HEAD is GET without the body (RFC 9110, 9.3.2): every GET route answers it.
    const bool takes = routes(method) || (method == http::verb::head && routes(http::verb::get));
    if (!takes) {
      for (http::verb m : route.methods) {
        if (std::find(out.allowed.begin(), out.allowed.end(), m) == out.allowed.end()) {
          out.allowed.push_back(m);
        }
      }
      if (routes(http::verb::get) && std::find(out.allowed.begin(), out.allowed.end(),
                                               http::verb::head) == out.allowed.end()) {
        out.allowed.push_back(http::verb::head);
      }
      continue;
    }
    if (best == nullptr || MoreSpecific(route, *best)) {
      best = &route;
      best_params = std::move(*params);
    }
  }
  if (best != nullptr) {
    out.match = Match{&best->handler, best->body_limit, std::move(best_params)};
    out.allowed.clear();
  }
  return out;
}

}  // namespace ferry::httpd
