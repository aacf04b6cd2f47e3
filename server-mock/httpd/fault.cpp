#include "ferry/httpd/fault.hpp"

#include <fnmatch.h>

#include <charconv>
#include <set>

#include "ferry/httpd/error.hpp"

namespace ferry::httpd {
namespace {

struct KindName {
  FaultKind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {
    {FaultKind::kDrop, "drop"},
    {FaultKind::kThrottle, "throttle"},
    {FaultKind::kFlip, "flip"},
    {FaultKind::kStatus, "status"},
    {FaultKind::kIgnoreRange, "ignore-range"},
    {FaultKind::kContentRange, "content-range"},
};

std::string_view NameOf(FaultKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) {
      return k.name;
    }
  }
  return "?";
}

// The keys a kind takes besides path and first.
std::set<std::string_view> KeysOf(FaultKind kind) {
  switch (kind) {
    case FaultKind::kDrop:
      return {"after"};
    case FaultKind::kThrottle:
      return {"rate"};
    case FaultKind::kFlip:
      return {"offset"};
    case FaultKind::kStatus:
      return {"code", "retry-after"};
    case FaultKind::kIgnoreRange:
      return {};
    case FaultKind::kContentRange:
      return {"shift"};
  }
  return {};
}

template <class T>
bool ParseInt(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<FaultSpec> ParseFaultSpec(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Fail(HttpdErrc::kBadFaultSpec, "fault '" + std::string(text) + "': " + why);
  };
  const auto colon = text.find(':');
  const std::string_view kind_name = text.substr(0, colon);
  FaultSpec spec;
  bool known = false;
  for (const auto& k : kKinds) {
    if (k.name == kind_name) {
      spec.kind = k.kind;
      known = true;
    }
  }
  if (!known) {
    return bad("unknown kind '" + std::string(kind_name) +
               "' (drop, throttle, flip, status, ignore-range, content-range)");
  }
  const std::set<std::string_view> allowed = KeysOf(spec.kind);
  std::set<std::string_view> seen;
  std::string_view rest =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (colon != std::string_view::npos && rest.empty()) {
    return bad("nothing after ':'");
  }
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty()) {
      return bad("trailing ','");
    }
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return bad("expected KEY=VALUE, got '" + std::string(item) + "'");
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (!seen.insert(key).second) {
      return bad("'" + std::string(key) + "' given twice");
    }
    if (key == "path") {
      if (value.empty()) {
        return bad("empty path glob");
      }
      spec.path = std::string(value);
      continue;
    }
    if (key == "first") {
      std::uint64_t first = 0;
      if (!ParseInt(value, first) || first == 0) {
        return bad("first must be a whole number of requests, at least 1");
      }
      spec.first = first;
      continue;
    }
    if (!allowed.contains(key)) {
      return bad("'" + std::string(NameOf(spec.kind)) + "' takes no key '" + std::string(key) +
                 "'");
    }
    bool ok = false;
    if (key == "after") {
      ok = ParseInt(value, spec.after);
    } else if (key == "rate") {
      ok = ParseInt(value, spec.rate) && spec.rate > 0;
    } else if (key == "offset") {
      ok = ParseInt(value, spec.offset);
    } else if (key == "code") {
      ok = ParseInt(value, spec.code) && spec.code >= 400 && spec.code <= 599;
    } else if (key == "retry-after") {
      ok = ParseInt(value, spec.retry_after);
    } else if (key == "shift") {
      ok = ParseInt(value, spec.shift) && spec.shift != 0;
    }
    if (!ok) {
      return bad("bad value for '" + std::string(key) + "': '" + std::string(value) + "'");
    }
  }
  for (const std::string_view required : {"after", "rate", "offset"}) {
    if (allowed.contains(required) && !seen.contains(required)) {
      return bad("'" + std::string(NameOf(spec.kind)) + "' needs '" + std::string(required) + "='");
    }
  }
  return spec;
}

std::string FormatFaultSpec(const FaultSpec& spec) {
  std::string out(NameOf(spec.kind));
  std::vector<std::string> items;
  switch (spec.kind) {
    case FaultKind::kDrop:
      items.push_back("after=" + std::to_string(spec.after));
      break;
    case FaultKind::kThrottle:
      items.push_back("rate=" + std::to_string(spec.rate));
      break;
    case FaultKind::kFlip:
      items.push_back("offset=" + std::to_string(spec.offset));
      break;
    case FaultKind::kStatus:
      items.push_back("code=" + std::to_string(spec.code));
      items.push_back("retry-after=" + std::to_string(spec.retry_after));
      break;
    case FaultKind::kIgnoreRange:
      break;
    case FaultKind::kContentRange:
      items.push_back("shift=" + std::to_string(spec.shift));
      break;
  }
  if (spec.path != "*") {
    items.push_back("path=" + spec.path);
  }
  if (spec.first) {
    items.push_back("first=" + std::to_string(*spec.first));
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i == 0 ? ":" : ",") + items[i];
  }
  return out;
}

bool GlobMatch(std::string_view glob, std::string_view text) {
  return ::fnmatch(std::string(glob).c_str(), std::string(text).c_str(), 0) == 0;
}

void FaultSet::Add(FaultSpec spec) {
  std::lock_guard lock(mu_);
  entries_.push_back({std::move(spec), 0});
}

void FaultSet::Clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

std::vector<FaultSet::Entry> FaultSet::List() const {
  std::lock_guard lock(mu_);
  return entries_;
}

std::vector<FaultSpec> FaultSet::Take(std::string_view path) {
  std::vector<FaultSpec> out;
  std::lock_guard lock(mu_);
  for (Entry& entry : entries_) {
    if (entry.spec.first && entry.hits >= *entry.spec.first) {
      continue;
    }
    if (!GlobMatch(entry.spec.path, path)) {
      continue;
    }
    ++entry.hits;
    out.push_back(entry.spec);
  }
  return out;
}

}  // namespace ferry::httpd
