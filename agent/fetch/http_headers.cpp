#include "ferry/fetch/http_headers.hpp"

#include <array>

#include "ferry/core/text.hpp"

namespace ferry::fetch {
namespace {

std::optional<int> Digits(std::string_view s, std::size_t count) {
  if (s.size() != count) {
    return std::nullopt;
  }
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  const auto v = ParseDecimal(s);
  return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
}

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kShortDays = {"Mon", "Tue", "Wed", "Thu",
                                                        "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

std::optional<unsigned> Month(std::string_view s) {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == s) {
      return static_cast<unsigned>(i + 1);
    }
  }
  return std::nullopt;
}

template <std::size_t N>
bool OneOf(const std::array<std::string_view, N>& names, std::string_view s) {
  for (const auto n : names) {
    if (n == s) {
      return true;
    }
  }
  return false;
}

// "HH:MM:SS" → seconds of the day.
std::optional<std::chrono::seconds> TimeOfDay(std::string_view s) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') {
    return std::nullopt;
  }
  const auto h = Digits(s.substr(0, 2), 2);
  const auto m = Digits(s.substr(3, 2), 2);
  const auto sec = Digits(s.substr(6, 2), 2);
  if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) {
    return std::nullopt;
  }
  return std::chrono::hours(*h) + std::chrono::minutes(*m) + std::chrono::seconds(*sec);
}

std::optional<std::chrono::system_clock::time_point> Make(int year, unsigned month, int day,
                                                          std::chrono::seconds time_of_day) {
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return std::chrono::sys_days(ymd) + time_of_day;
}

}  // namespace

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  value = TrimHttpSpace(value);
  constexpr std::string_view kUnit = "bytes ";
  if (!value.starts_with(kUnit)) {
    return std::nullopt;
  }
  value.remove_prefix(kUnit.size());
  const auto dash = value.find('-');
  const auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  const auto first = ParseDecimal(value.substr(0, dash));
  const auto last = ParseDecimal(value.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) {
    return std::nullopt;
  }
  ContentRange range{*first, *last, std::nullopt};
  const std::string_view total = value.substr(slash + 1);
  if (total != "*") {
    range.total = ParseDecimal(total);
    if (!range.total || *range.total <= *last) {
      return std::nullopt;
    }
  }
  return range;
}

std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view value) {
  value = TrimHttpSpace(value);
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters).
  if (value.size() == 29 && value[3] == ',' && value[4] == ' ' && value[7] == ' ' &&
      value[11] == ' ' && value[16] == ' ' && value[25] == ' ' && value.substr(26) == "GMT" &&
      OneOf(kShortDays, value.substr(0, 3))) {
    const auto day = Digits(value.substr(5, 2), 2);
    const auto month = Month(value.substr(8, 3));
    const auto year = Digits(value.substr(12, 4), 4);
    const auto tod = TimeOfDay(value.substr(17, 8));
    if (day && month && year && tod) {
      return Make(*year, *month, *day, *tod);
    }
    return std::nullopt;
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". Two-digit years: 70–99 are 19xx, as curl and
  // browsers read them.
  if (const auto comma = value.find(", ");
      comma != std::string_view::npos && OneOf(kLongDays, value.substr(0, comma))) {
    const std::string_view rest = value.substr(comma + 2);
    if (rest.size() == 22 && rest[2] == '-' && rest[6] == '-' && rest[9] == ' ' &&
        rest[18] == ' ' && rest.substr(19) == "GMT") {
      const auto day = Digits(rest.substr(0, 2), 2);
      const auto month = Month(rest.substr(3, 3));
      const auto yy = Digits(rest.substr(7, 2), 2);
      const auto tod = TimeOfDay(rest.substr(10, 8));
      if (day && month && yy && tod) {
        return Make(*yy >= 70 ? 1900 + *yy : 2000 + *yy, *month, *day, *tod);
      }
    }
    return std::nullopt;
  }
  // asctime: "Sun Nov  6 08:49:37 1994" (the day is space-padded).
  if (value.size() == 24 && value[3] == ' ' && value[7] == ' ' && value[10] == ' ' &&
      value[19] == ' ' && OneOf(kShortDays, value.substr(0, 3))) {
    const auto month = Month(value.substr(4, 3));
    const std::string_view day_text = value[8] == ' ' ? value.substr(9, 1) : value.substr(8, 2);
    const auto day = Digits(day_text, day_text.size());
    const auto tod = TimeOfDay(value.substr(11, 8));
    const auto year = Digits(value.substr(20, 4), 4);
    if (day && month && year && tod) {
      return Make(*year, *month, *day, *tod);
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now) {
  value = TrimHttpSpace(value);
  if (!value.empty() && value.front() >= '0' && value.front() <= '9') {
    const auto seconds = ParseDecimal(value);
    // Anything past a day is cut by the caller anyway; keep the value representable.
    constexpr std::uint64_t kMax = 1ull << 40;
    if (!seconds) {
      return std::nullopt;
    }
    return std::chrono::seconds(static_cast<std::int64_t>(std::min(*seconds, kMax)));
  }
  const auto date = ParseHttpDate(value);
  if (!date) {
    return std::nullopt;
  }
  if (*date <= now) {
    return std::chrono::seconds(0);
  }
  return std::chrono::ceil<std::chrono::seconds>(*date - now);
}

}  // namespace ferry::fetch
