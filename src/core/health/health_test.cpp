#include "health/health.hpp"

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace olympus::health {
namespace {

http::Response get(const http::Router& router, std::string target) {
    http::Request request;
    request.target = std::move(target);
    request.method_name = "GET";
    http::RequestContext ctx{request};
    boost::asio::io_context io;
    auto result = boost::asio::co_spawn(io, router.dispatch(ctx), boost::asio::use_future);
    io.run();
    return result.get();
}

TEST(Health, ReadyWhenEveryCheckPasses) {
    Health health;
    http::Router router;
    health.install(router);
    health.add_check("store", [] { return true; });
    http::Response r = get(router, "/readyz");
    EXPECT_EQ(r.status, 200);
    auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body.at("status").as_string(), "ready");
    EXPECT_EQ(body.at("checks").as_object().at("store").as_string(), "ok");
    EXPECT_EQ(get(router, "/livez").status, 200);
}

TEST(Health, NotReadyWhenACheckFailsOrThrows) {
    Health health;
    http::Router router;
    health.install(router);
    health.add_check("up", [] { return true; });
    health.add_check("down", [] { return false; });
    EXPECT_EQ(get(router, "/readyz").status, 503);

    Health throwing;
    throwing.add_check("broken", []() -> bool { throw std::runtime_error("no route to host"); });
    EXPECT_FALSE(throwing.readiness().ready);
}

TEST(Health, DrainingFailsReadinessButNotLiveness) {
    Health health;
    http::Router router;
    health.install(router);
    health.set_draining();
    http::Response r = get(router, "/readyz");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(boost::json::parse(r.body).as_object().at("status").as_string(), "draining");
    EXPECT_EQ(get(router, "/livez").status, 200);
}

}  // namespace
}  // namespace olympus::health
