#include "ferry/httpd/http_date.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace ferry::httpd {
namespace {

constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool Number(std::string_view s, int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string FormatHttpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const auto n = std::strftime(buf, sizeof buf, "%d %Y %H:%M:%S GMT", &tm);
  // Day and month names come from tables: strftime's %a/%b follow the locale.
  return std::string(kDays[static_cast<std::size_t>(tm.tm_wday)]) + ", " + std::string(buf, 2) +
         " " + kMonths[static_cast<std::size_t>(tm.tm_mon)] + std::string(buf + 2, n - 2);
}

std::optional<std::time_t> ParseHttpDate(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  std::tm tm{};
  int month = -1;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (s.substr(8, 3) == kMonths[i]) {
      month = static_cast<int>(i);
    }
  }
  int day = 0;
  int year = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (month < 0 || !Number(s.substr(5, 2), day) || !Number(s.substr(12, 4), year) ||
      !Number(s.substr(17, 2), hour) || !Number(s.substr(20, 2), minute) ||
      !Number(s.substr(23, 2), second) || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  tm.tm_mday = day;
  tm.tm_mon = month;
  tm.tm_year = year - 1900;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return timegm(&tm);
}

}  // namespace ferry::httpd
