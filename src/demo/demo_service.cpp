#include "demo/demo_service.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "http/router.hpp"
#include "json/body.hpp"

namespace olympus::demo {

namespace {

boost::asio::awaitable<http::Response> hello(http::RequestContext&) {
    co_return http::Response::json(200, R"({"message":"hello from olympus"})");
}

// Echoes a message back with its length: exercises typed body parsing and its 400/415 problems.
boost::asio::awaitable<http::Response> echo(http::RequestContext& ctx) {
    boost::json::object body = json::parse_object(ctx.request);
    json::ObjectReader reader(body);
    reader.reject_unknown({"message", "repeat"});
    std::string message = reader.required_string("message", 256);
    std::int64_t repeat = reader.optional_int("repeat", 1, 8).value_or(1);
    std::string echoed;
    for (std::int64_t i = 0; i < repeat; ++i) echoed += message;
    boost::json::object reply{{"echo", echoed}, {"length", echoed.size()}};
    co_return http::Response::json(200, boost::json::serialize(reply));
}

}  // namespace

void DemoService::start(app::ServiceContext& context) {
    context.router.get("/v1/demo/hello", hello);
    context.router.post("/v1/demo/echo", echo);
}

}  // namespace olympus::demo
