#include <gtest/gtest.h>

#include "ferry/httpd/fault.hpp"
#include "ferry/httpd/range.hpp"

namespace ferry::httpd {
namespace {

// A stand-in for the static files handler: 206 for "Range: bytes=10-19", else 200; it records
// whether it saw a Range header.
struct Inner {
  int calls = 0;
  bool saw_range = false;

  Handler AsHandler() {
    return [this](const Request& request) {
      ++calls;
      saw_range = request.message.count(http::field::range) > 0;
      Response r = Response::Text(http::status::ok, std::string(100, 'x'));
      if (saw_range) {
        r.status = http::status::partial_content;
        r.headers.set(http::field::content_range, ContentRangeValue({10, 10}, 100));
        r.body = std::string(10, 'x');
        r.resource_offset = 10;
      }
      return r;
    };
  }
};

Response Call(const Handler& handler, std::string_view path, bool range) {
  HttpRequest message(http::verb::get, path, 11);
  if (range) {
    message.set(http::field::range, "bytes=10-19");
    message.set(http::field::if_range, "\"x\"");
  }
  return handler(Request{message, {}, path, {}, {}});
}

std::shared_ptr<FaultSet> Faults(std::initializer_list<const char*> specs) {
  auto set = std::make_shared<FaultSet>();
  for (const char* s : specs) {
    set->Add(ParseFaultSpec(s).value());
  }
  return set;
}

TEST(WithFaults, NoFaultLeavesTheResponseAlone) {
  Inner inner;
  const auto handler = WithFaults(Faults({"drop:after=1,path=/other"}), inner.AsHandler());
  const Response r = Call(handler, "/blob", true);
  EXPECT_EQ(r.status, http::status::partial_content);
  EXPECT_FALSE(r.faults.drop_after || r.faults.rate || r.faults.flip_at);
}

TEST(WithFaults, StatusAnswersWithoutCallingTheHandler) {
  Inner inner;
  const auto handler = WithFaults(Faults({"status:code=429,retry-after=9"}), inner.AsHandler());
  const Response r = Call(handler, "/blob", false);
  EXPECT_EQ(r.status, http::status::too_many_requests);
  EXPECT_EQ(r.headers[http::field::retry_after], "9");
  EXPECT_EQ(inner.calls, 0);
}

TEST(WithFaults, StreamFaultsCombine) {
  Inner inner;
  const auto handler =
      WithFaults(Faults({"drop:after=7", "throttle:rate=100", "flip:offset=3"}), inner.AsHandler());
  const Response r = Call(handler, "/blob", false);
  EXPECT_EQ(r.faults.drop_after, 7u);
  EXPECT_EQ(r.faults.rate, 100u);
  EXPECT_EQ(r.faults.flip_at, 3u);
}

TEST(WithFaults, IgnoreRangeHidesRangeAndIfRangeFromTheHandler) {
  Inner inner;
  const auto handler = WithFaults(Faults({"ignore-range"}), inner.AsHandler());
  const Response r = Call(handler, "/blob", true);
  EXPECT_FALSE(inner.saw_range);
  EXPECT_EQ(r.status, http::status::ok);
}

TEST(WithFaults, ContentRangeShiftsBothPositionsClampedAtZero) {
  Inner inner;
  EXPECT_EQ(Call(WithFaults(Faults({"content-range:shift=5"}), inner.AsHandler()), "/b", true)
                .headers[http::field::content_range],
            "bytes 15-24/100");
  EXPECT_EQ(Call(WithFaults(Faults({"content-range:shift=-15"}), inner.AsHandler()), "/b", true)
                .headers[http::field::content_range],
            "bytes 0-4/100");
  // A 200 has no Content-Range to mislabel and gets none.
  EXPECT_EQ(Call(WithFaults(Faults({"content-range"}), inner.AsHandler()), "/b", false)
                .headers.count(http::field::content_range),
            0u);
}

TEST(WithFaults, GlobMatchesTheDecodedPath) {
  Inner inner;
  const auto handler = WithFaults(Faults({"status:path=/a b"}), inner.AsHandler());
  EXPECT_EQ(Call(handler, "/a%20b", false).status, http::status::service_unavailable);
}

}  // namespace
}  // namespace ferry::httpd
