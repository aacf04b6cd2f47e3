#include "ferry/httpd/router.hpp"

#include <gtest/gtest.h>

#include "ferry/httpd/error.hpp"

namespace ferry::httpd {
namespace {

Handler Named(std::string name) {
  return [name](const Request&) { return Response::Text(http::status::ok, name); };
}

std::string Call(const Router& router, http::verb method, std::string_view path) {
  auto lookup = router.Find(method, path);
  if (!lookup.match) {
    return lookup.allowed.empty() ? "404" : "405";
  }
  HttpRequest message;
  const Request request{message, {}, path, {}, lookup.match->params};
  auto response = (*lookup.match->handler)(request);
  return std::get<std::string>(response.body)
      .substr(0, std::get<std::string>(response.body).size() - 1);
}

TEST(Router, MostSpecificRouteWins) {
  Router router;
  ASSERT_TRUE(router.Add({http::verb::get}, "/{path...}", Named("static")));
  ASSERT_TRUE(router.Add({http::verb::get}, "/_faults", Named("faults")));
  ASSERT_TRUE(router.Add({http::verb::get}, "/api/devices/{id}", Named("device")));
  ASSERT_TRUE(router.Add({http::verb::get}, "/api/devices/self", Named("self")));
  EXPECT_EQ(Call(router, http::verb::get, "/_faults"), "faults");
  EXPECT_EQ(Call(router, http::verb::get, "/_faults/x"), "static");
  EXPECT_EQ(Call(router, http::verb::get, "/api/devices/42"), "device");
  EXPECT_EQ(Call(router, http::verb::get, "/api/devices/self"), "self");
  EXPECT_EQ(Call(router, http::verb::get, "/api/devices/42/x"), "static");
  EXPECT_EQ(Call(router, http::verb::get, "/"), "static");
}

TEST(Router, CapturesParams) {
  Router router;
  ASSERT_TRUE(router.Add({http::verb::get}, "/d/{id}/e/{rest...}", Named("x")));
  auto lookup = router.Find(http::verb::get, "/d/a%20b/e/x/%2e/y");
  ASSERT_TRUE(lookup.match);
  const RouteParams expected = {{"id", "a b"}, {"rest", "x/%2e/y"}};
  EXPECT_EQ(lookup.match->params, expected);
  EXPECT_TRUE(router.Find(http::verb::get, "/d/1/e").match);    // empty rest
  EXPECT_FALSE(router.Find(http::verb::get, "/d//e/x").match);  // empty capture
  EXPECT_FALSE(router.Find(http::verb::get, "/d/1").match);
}

TEST(Router, WrongMethodListsAllowedOnes) {
  Router router;
  ASSERT_TRUE(router.Add({http::verb::get, http::verb::head}, "/{path...}", Named("static")));
  ASSERT_TRUE(router.Add({http::verb::post, http::verb::delete_}, "/_faults", Named("faults")));
  EXPECT_EQ(Call(router, http::verb::post, "/_faults"), "faults");
  EXPECT_EQ(Call(router, http::verb::get, "/_faults"), "static");
  const auto lookup = router.Find(http::verb::put, "/_faults");
  EXPECT_FALSE(lookup.match);
  EXPECT_EQ(lookup.allowed.size(), 4u);
  EXPECT_EQ(Call(router, http::verb::post, "/x"), "405");
}

TEST(Router, NothingMatchesGives404) {
  Router router;
  ASSERT_TRUE(router.Add({http::verb::get}, "/a", Named("a")));
  EXPECT_EQ(Call(router, http::verb::get, "/b"), "404");
  EXPECT_EQ(Call(router, http::verb::get, "/a/"), "404");
  EXPECT_EQ(Call(router, http::verb::get, "a"), "404");
}

TEST(Router, RefusesBadPatternsAndDuplicates) {
  Router router;
  for (const char* bad : {"", "nope", "/{}", "/{a b}", "/{rest...}/x", "/a{b}", "/{x"}) {
    const auto r = router.Add({http::verb::get}, bad, Named("x"));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_TRUE(r.error().Is(HttpdErrc::kBadRoute)) << bad;
  }
  ASSERT_TRUE(router.Add({http::verb::get}, "/a", Named("a")));
  EXPECT_TRUE(router.Add({http::verb::post}, "/a", Named("a2")));
  EXPECT_FALSE(router.Add({http::verb::get, http::verb::put}, "/a", Named("a3")));
}

}  // namespace
}  // namespace ferry::httpd
