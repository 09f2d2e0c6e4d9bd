#include "http/router.hpp"

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "problem.hpp"

namespace olympus::http {
namespace {

boost::asio::awaitable<Response> reply(std::string body) {
    co_return Response::text(200, std::move(body));
}

Handler answer(std::string body) {
    return [body](RequestContext&) { return reply(body); };
}

Response dispatch(const Router& router, Method method, std::string target, std::string method_name = {}) {
    Request request;
    request.method = method;
    request.method_name = method_name.empty() ? std::string(to_string(method)) : method_name;
    request.target = std::move(target);
    RequestContext ctx{request};
    boost::asio::io_context io;
    auto result = boost::asio::co_spawn(io, router.dispatch(ctx), boost::asio::use_future);
    io.run();
    return result.get();
}

boost::json::object problem_body(const Response& r) {
    EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/problem+json");
    return boost::json::parse(r.body).as_object();
}

TEST(Router, MatchesLiteralRoutesExactly) {
    Router router;
    router.get("/livez", answer("live"));
    router.get("/v1/users", answer("list"));
    EXPECT_EQ(dispatch(router, Method::get, "/livez").body, "live");
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users?limit=2").body, "list");
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users/").status, 404);
    EXPECT_EQ(dispatch(router, Method::get, "/v1//users").status, 404);
    EXPECT_EQ(dispatch(router, Method::get, "/V1/users").status, 404);
}

TEST(Router, ExtractsAndDecodesPathParameters) {
    Router router;
    router.get("/v1/users/{id}/orders/{order}", [](RequestContext& ctx) {
        return reply(std::string(ctx.param("id")) + "|" + std::string(ctx.param("order")));
    });
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users/42/orders/a%20b").body, "42|a b");
    auto m = router.match(Method::get, "/v1/users/42/orders/7");
    EXPECT_EQ(m.route, "/v1/users/{id}/orders/{order}");
}

TEST(Router, RejectsMalformedPercentEncodingAsNotFound) {
    Router router;
    router.get("/v1/users/{id}", answer("x"));
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users/%zz").status, 404);
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users/%4").status, 404);
}

TEST(Router, LiteralSegmentsWinOverParameters) {
    Router router;
    router.get("/v1/users/{id}", answer("by-id"));
    router.get("/v1/users/me", answer("me"));
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users/me").body, "me");
    EXPECT_EQ(dispatch(router, Method::get, "/v1/users/you").body, "by-id");
}

TEST(Router, BacktracksFromADeadLiteralBranch) {
    Router router;
    router.get("/a/b/c", answer("literal"));
    router.get("/a/{x}/d", answer("param"));
    EXPECT_EQ(dispatch(router, Method::get, "/a/b/d").body, "param");
}

TEST(Router, CatchAllTakesTheRestOfThePath) {
    Router router;
    router.get("/oauth2/{rest...}",
               [](RequestContext& ctx) { return reply(std::string(ctx.param("rest"))); });
    EXPECT_EQ(dispatch(router, Method::get, "/oauth2/token/x%2Fy").body, "token/x%2Fy");
    EXPECT_EQ(dispatch(router, Method::get, "/oauth2").status, 404);
    EXPECT_EQ(router.match(Method::get, "/oauth2/a/b").route, "/oauth2/{rest...}");
}

TEST(Router, UnknownPathIsNotFoundProblem) {
    Router router;
    Response r = dispatch(router, Method::get, "/nowhere");
    EXPECT_EQ(r.status, 404);
    auto body = problem_body(r);
    EXPECT_EQ(body.at("status").as_int64(), 404);
    EXPECT_EQ(body.at("title").as_string(), "Not Found");
}

TEST(Router, WrongMethodIsMethodNotAllowedWithAllow) {
    Router router;
    router.get("/v1/things", answer("x"));
    router.post("/v1/things", answer("y"));
    Response r = dispatch(router, Method::delete_, "/v1/things");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.headers.get("Allow").value_or(""), "GET, HEAD, POST, OPTIONS");
    EXPECT_EQ(problem_body(r).at("status").as_int64(), 405);
}

TEST(Router, OptionsAnswersNoContentWithAllow) {
    Router router;
    router.put("/v1/things/{id}", answer("x"));
    Response r = dispatch(router, Method::options, "/v1/things/1");
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.headers.get("Allow").value_or(""), "PUT, OPTIONS");
}

TEST(Router, HeadIsServedByTheGetRoute) {
    Router router;
    router.get("/livez", answer("live"));
    Response r = dispatch(router, Method::head, "/livez");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "live");  // the server strips the body and keeps its length
}

TEST(Router, UnknownMethodIsNotImplemented) {
    Router router;
    router.get("/livez", answer("live"));
    Response r = dispatch(router, Method::other, "/livez", "BREW");
    EXPECT_EQ(r.status, 501);
    EXPECT_NE(problem_body(r).at("detail").as_string().find("BREW"), std::string::npos);
}

TEST(Router, ThrownProblemBecomesItsResponse) {
    Router router;
    router.post("/v1/x", [](RequestContext&) -> boost::asio::awaitable<Response> {
        throw Problem::conflict("already there").with("field", "email");
        co_return Response{};
    });
    Response r = dispatch(router, Method::post, "/v1/x");
    EXPECT_EQ(r.status, 409);
    auto body = problem_body(r);
    EXPECT_EQ(body.at("detail").as_string(), "already there");
    EXPECT_EQ(body.at("field").as_string(), "email");
}

TEST(Router, UnexpectedExceptionIsAnOpaqueInternalError) {
    Router router;
    router.get("/boom", [](RequestContext&) -> boost::asio::awaitable<Response> {
        throw std::runtime_error("secret internal detail");
        co_return Response{};
    });
    Response r = dispatch(router, Method::get, "/boom");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
}

class Recorder final : public Middleware {
  public:
    explicit Recorder(std::string name, std::vector<std::string>& journal)
        : name_(std::move(name)), journal_(journal) {}
    boost::asio::awaitable<Response> handle(RequestContext& ctx, const Handler& next) override {
        journal_.push_back(name_ + ">" + std::string(ctx.route));
        Response r = co_await next(ctx);
        journal_.push_back(name_ + "<" + std::to_string(r.status));
        co_return r;
    }

  private:
    std::string name_;
    std::vector<std::string>& journal_;
};

TEST(Router, MiddlewareWrapsInOrderAndSeesErrorsAsResponses) {
    std::vector<std::string> journal;
    Router router;
    router.use(std::make_shared<Recorder>("outer", journal));
    router.use(std::make_shared<Recorder>("inner", journal));
    router.get("/v1/items/{id}", [](RequestContext&) -> boost::asio::awaitable<Response> {
        throw Problem::not_found("no such item");
        co_return Response{};
    });
    EXPECT_EQ(dispatch(router, Method::get, "/v1/items/9").status, 404);
    std::vector<std::string> expected{"outer>/v1/items/{id}", "inner>/v1/items/{id}", "inner<404",
                                      "outer<404"};
    EXPECT_EQ(journal, expected);
}

TEST(Router, MiddlewareSeesUnmatchedRequestsWithAnEmptyRoute) {
    std::vector<std::string> journal;
    Router router;
    router.use(std::make_shared<Recorder>("m", journal));
    EXPECT_EQ(dispatch(router, Method::get, "/secret/token/abc").status, 404);
    std::vector<std::string> expected{"m>", "m<404"};
    EXPECT_EQ(journal, expected);
}

TEST(Router, MethodNotAllowedIsLabelledWithTheTemplate) {
    Router router;
    router.get("/v1/users/{id}", answer("x"));
    EXPECT_EQ(router.match(Method::post, "/v1/users/12345").route, "/v1/users/{id}");
}

TEST(Router, RejectsMalformedOrDuplicateTemplates) {
    Router router;
    router.get("/v1/a/{id}", answer("x"));
    EXPECT_THROW(router.get("/v1/a/{id}", answer("y")), std::invalid_argument);
    EXPECT_THROW(router.get("v1/no-slash", answer("y")), std::invalid_argument);
    EXPECT_THROW(router.get("/v1/a/{other}", answer("y")), std::invalid_argument);
    EXPECT_THROW(router.get("/v1/{rest...}/x", answer("y")), std::invalid_argument);
    EXPECT_THROW(router.get("/v1/a{b}", answer("y")), std::invalid_argument);
    EXPECT_THROW(router.get("/v1//a", answer("y")), std::invalid_argument);
}

}  // namespace
}  // namespace olympus::http
