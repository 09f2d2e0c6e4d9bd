#include "http/observability_middleware.hpp"

#include <atomic>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "log/log.hpp"
#include "log/testing.hpp"
#include "metrics/metrics.hpp"
#include "metrics/testing.hpp"

namespace olympus::http {
namespace {

constexpr std::string_view kCallerTrace = "0af7651916cd43dd8448eb211c80319c";
constexpr std::string_view kCallerSpan = "b7ad6b7169203331";
const std::string kTraceparent = "00-" + std::string(kCallerTrace) + "-" + std::string(kCallerSpan) + "-01";

boost::asio::awaitable<Response> reply(std::string body) {
    co_return Response::text(200, std::move(body));
}

// Stands in for an authentication middleware: it runs inside ours and names the user.
class SetsUser final : public Middleware {
  public:
    boost::asio::awaitable<Response> handle(RequestContext& ctx, const Handler& next) override {
        ctx.user_id = "u-7";
        co_return co_await next(ctx);
    }
};

struct Fixture {
    explicit Fixture(bool access_log = true) {
        router.use(std::make_shared<ObservabilityMiddleware>(registry, access_log));
        router.get("/v1/items/{id}", [](RequestContext&) { return reply("hello"); });
    }

    Response dispatch(Method method, std::string target,
                      std::vector<std::pair<std::string, std::string>> headers = {},
                      RequestContext* seen = nullptr) {
        Request request;
        request.method = method;
        request.method_name = std::string(to_string(method));
        request.target = std::move(target);
        request.remote_ip = "127.0.0.1";
        for (const auto& [name, value] : headers) request.headers.add(name, value);
        RequestContext ctx{request};
        boost::asio::io_context io;
        auto result = boost::asio::co_spawn(io, router.dispatch(ctx), boost::asio::use_future);
        io.run();
        Response response = result.get();
        if (seen != nullptr) {
            seen->trace = ctx.trace;
            seen->request_id = ctx.request_id;
        }
        return response;
    }

    metrics::Registry registry;
    Router router;
};

// The value of the sample line for exactly this series.
std::string sample(const std::string& text, const std::string& series) {
    const std::string prefix = "\n" + series + " ";
    const auto pos = ("\n" + text).find(prefix);
    if (pos == std::string::npos) return "<missing>";
    const auto start = pos + prefix.size() - 1;
    return text.substr(start, text.find('\n', start) - start);
}

TEST(ObservabilityMiddleware, CountsRequestsByRouteTemplateMethodAndStatusNeverByRawPath) {
    Fixture f(false);
    EXPECT_EQ(f.dispatch(Method::get, "/v1/items/42").status, 200);
    EXPECT_EQ(f.dispatch(Method::get, "/v1/items/7?x=1").status, 200);
    EXPECT_EQ(f.dispatch(Method::get, "/v1/items/42").status, 200);
    EXPECT_EQ(f.dispatch(Method::post, "/v1/items/42").status, 405);
    EXPECT_EQ(f.dispatch(Method::get, "/nowhere/secret-path-123").status, 404);

    const std::string text = f.registry.render();
    EXPECT_EQ(sample(text, R"(http_server_requests_total{method="GET",route="/v1/items/{id}",status="200"})"),
              "3");
    EXPECT_EQ(sample(text, R"(http_server_requests_total{method="GET",route="unmatched",status="404"})"),
              "1");
    EXPECT_NE(text.find(R"(method="POST")"), std::string::npos);
    EXPECT_NE(text.find(R"(status="405")"), std::string::npos);
    EXPECT_EQ(
        sample(text, R"(http_server_request_duration_seconds_count{method="GET",route="/v1/items/{id}"})"),
        "3");
    EXPECT_EQ(sample(text, R"(http_server_active_requests)"), "0");
    EXPECT_EQ(text.find("secret-path-123"), std::string::npos);
    EXPECT_EQ(text.find("/v1/items/42"), std::string::npos);

    const auto promtool = metrics::testing::promtool_check(text);
    EXPECT_EQ(promtool.exit_code, 0) << promtool.output << "\n" << text;
}

TEST(ObservabilityMiddleware, ActiveRequestsGaugeCountsRequestsInsideTheChain) {
    Fixture f(false);
    double during = -1;
    f.router.get("/v1/probe", [&](RequestContext&) {
        during =
            f.registry.gauge("http_server_active_requests", "HTTP requests being served.").labels({}).value();
        return reply("ok");
    });
    f.dispatch(Method::get, "/v1/probe");
    EXPECT_EQ(during, 1);
    EXPECT_EQ(sample(f.registry.render(), "http_server_active_requests"), "0");
}

TEST(ObservabilityMiddleware, ContinuesTheCallersTraceAndAnswersWithOurSpan) {
    Fixture f(false);
    Request dummy;
    RequestContext ctx{dummy};
    const Response r =
        f.dispatch(Method::get, "/v1/items/1",
                   {{"traceparent", kTraceparent}, {"tracestate", "a=1"}, {"tracestate", "b=2"}}, &ctx);
    EXPECT_EQ(ctx.trace.trace_id_hex(), kCallerTrace);
    EXPECT_EQ(ctx.trace.parent_id_hex(), kCallerSpan);
    EXPECT_NE(ctx.trace.span_id_hex(), kCallerSpan);
    EXPECT_EQ(ctx.trace.tracestate, "a=1,b=2");
    EXPECT_EQ(r.headers.get("traceparent").value_or(""), ctx.trace.traceparent());
    EXPECT_TRUE(
        r.headers.get("traceparent").value_or("").starts_with("00-" + std::string(kCallerTrace) + "-"));
}

TEST(ObservabilityMiddleware, StartsANewTraceWhenTraceparentIsAbsentOrMalformed) {
    Fixture f(false);
    static const std::regex kTraceparentSyntax("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}");
    Request dummy;
    RequestContext first{dummy};
    RequestContext second{dummy};
    const Response a = f.dispatch(Method::get, "/v1/items/1", {}, &first);
    const Response b = f.dispatch(Method::get, "/v1/items/1", {{"traceparent", "00-zzzz-bad-01"}}, &second);
    EXPECT_TRUE(std::regex_match(std::string(a.headers.get("traceparent").value_or("")), kTraceparentSyntax));
    EXPECT_TRUE(std::regex_match(std::string(b.headers.get("traceparent").value_or("")), kTraceparentSyntax));
    EXPECT_FALSE(first.trace.has_parent());
    EXPECT_FALSE(second.trace.has_parent());
    EXPECT_NE(first.trace.trace_id_hex(), second.trace.trace_id_hex());
}

TEST(ObservabilityMiddleware, EchoesASaneRequestIdAndReplacesAnyOther) {
    Fixture f(false);
    Request dummy;
    RequestContext ctx{dummy};
    EXPECT_EQ(f.dispatch(Method::get, "/v1/items/1", {{"X-Request-Id", "abc-123_X.y"}}, &ctx)
                  .headers.get("X-Request-Id")
                  .value_or(""),
              "abc-123_X.y");
    EXPECT_EQ(ctx.request_id, "abc-123_X.y");

    static const std::regex kGenerated("[0-9a-f]{32}");
    for (const std::string& bad : {std::string("has spaces"), std::string("quote\"d"), std::string(129, 'a'),
                                   std::string("new\nline"), std::string("")}) {
        const auto id = std::string(f.dispatch(Method::get, "/v1/items/1", {{"X-Request-Id", bad}})
                                        .headers.get("X-Request-Id")
                                        .value_or(""));
        EXPECT_TRUE(std::regex_match(id, kGenerated)) << "for " << bad << ": " << id;
    }
    EXPECT_TRUE(is_valid_request_id(std::string(128, 'a')));
    EXPECT_FALSE(is_valid_request_id(std::string(129, 'a')));
    const std::string one(f.dispatch(Method::get, "/v1/items/1").headers.get("X-Request-Id").value_or(""));
    const std::string two(f.dispatch(Method::get, "/v1/items/1").headers.get("X-Request-Id").value_or(""));
    EXPECT_TRUE(std::regex_match(one, kGenerated));
    EXPECT_NE(one, two);
}

TEST(ObservabilityMiddleware, WritesOneEcsAccessLineWithoutSecrets) {
    Fixture f(true);
    f.router.use(std::make_shared<SetsUser>());
    log::testing::StdoutCapture capture;
    const Response r = f.dispatch(Method::get, "/v1/items/42?access_token=query-secret-1",
                                  {{"traceparent", kTraceparent},
                                   {"Authorization", "Bearer header-secret-2"},
                                   {"Cookie", "session=cookie-secret-3"},
                                   {"User-Agent", "olympus-test/1.0"},
                                   {"X-Request-Id", "req-42"}});
    const std::string out = capture.finish();
    for (std::string_view secret : {"query-secret-1", "header-secret-2", "cookie-secret-3", "access_token"}) {
        EXPECT_EQ(out.find(secret), std::string::npos) << secret << " leaked: " << out;
    }
    const auto lines = log::testing::split_lines(out);
    ASSERT_EQ(lines.size(), 1u) << out;
    const auto doc = boost::json::parse(lines[0]).as_object();
    EXPECT_EQ(doc.at("event.dataset").as_string(), "access");
    EXPECT_EQ(doc.at("message").as_string(), "GET /v1/items/42 200");
    EXPECT_EQ(doc.at("http.request.method").as_string(), "GET");
    EXPECT_EQ(doc.at("url.path").as_string(), "/v1/items/42");
    EXPECT_EQ(doc.at("http.response.status_code").as_int64(), 200);
    EXPECT_GT(doc.at("event.duration").as_int64(), 0);
    EXPECT_LT(doc.at("event.duration").as_int64(), 10'000'000'000);  // nanoseconds, not seconds
    EXPECT_EQ(doc.at("client.ip").as_string(), "127.0.0.1");
    EXPECT_EQ(doc.at("user_agent.original").as_string(), "olympus-test/1.0");
    EXPECT_EQ(doc.at("http.request.id").as_string(), "req-42");
    EXPECT_EQ(r.headers.get("X-Request-Id").value_or(""), "req-42");
    EXPECT_EQ(doc.at("user.id").as_string(), "u-7");
    EXPECT_EQ(doc.at("http.response.body.bytes").as_int64(), 5);
    EXPECT_EQ(doc.at("trace.id").as_string(), kCallerTrace);
    EXPECT_TRUE(r.headers.get("traceparent").value_or("").find(std::string(doc.at("span.id").as_string())) !=
                std::string_view::npos);

    const auto ecs = log::testing::ecs_check(lines);
    EXPECT_EQ(ecs.exit_code, 0) << ecs.output;
}

TEST(ObservabilityMiddleware, OmitsOptionalAccessFieldsThatAreUnknown) {
    Fixture f(true);
    log::testing::StdoutCapture capture;
    f.dispatch(Method::get, "/nowhere");
    const auto lines = log::testing::split_lines(capture.finish());
    ASSERT_EQ(lines.size(), 1u);
    const auto doc = boost::json::parse(lines[0]).as_object();
    EXPECT_EQ(doc.at("http.response.status_code").as_int64(), 404);
    EXPECT_FALSE(doc.contains("user.id"));
    EXPECT_FALSE(doc.contains("user_agent.original"));
}

TEST(ObservabilityMiddleware, AccessLogCanBeTurnedOffWhileMetricsStay) {
    Fixture f(false);
    log::testing::StdoutCapture capture;
    f.dispatch(Method::get, "/v1/items/1");
    EXPECT_EQ(capture.finish(), "");
    EXPECT_EQ(sample(f.registry.render(),
                     R"(http_server_requests_total{method="GET",route="/v1/items/{id}",status="200"})"),
              "1");
}

TEST(ObservabilityMiddleware, ConcurrentRequestsAreCountedExactly) {
    Fixture f(false);
    boost::asio::io_context io;
    constexpr int kRequests = 2000;
    std::vector<std::unique_ptr<Request>> requests;
    std::vector<std::unique_ptr<RequestContext>> contexts;
    std::atomic<int> ok{0};
    for (int i = 0; i < kRequests; ++i) {
        auto& request = requests.emplace_back(std::make_unique<Request>());
        request->method = i % 2 == 0 ? Method::get : Method::delete_;
        request->method_name = std::string(to_string(request->method));
        request->target = "/v1/items/" + std::to_string(i);
        auto& ctx = contexts.emplace_back(std::make_unique<RequestContext>(*request));
        boost::asio::co_spawn(io, f.router.dispatch(*ctx), [&ok](std::exception_ptr e, Response) {
            if (!e) ++ok;
        });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) threads.emplace_back([&io] { io.run(); });
    for (auto& thread : threads) thread.join();
    ASSERT_EQ(ok.load(), kRequests);
    const std::string text = f.registry.render();
    EXPECT_EQ(sample(text, R"(http_server_requests_total{method="GET",route="/v1/items/{id}",status="200"})"),
              std::to_string(kRequests / 2));
    EXPECT_EQ(
        sample(text, R"(http_server_requests_total{method="DELETE",route="/v1/items/{id}",status="405"})"),
        std::to_string(kRequests / 2));
    EXPECT_EQ(sample(text, "http_server_active_requests"), "0");
}

}  // namespace
}  // namespace olympus::http
