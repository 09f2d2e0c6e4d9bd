#include "problem.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace olympus {
namespace {

TEST(Problem, RendersRfc9457Members) {
    Problem p = Problem::conflict("email already registered");
    auto body = boost::json::parse(p.to_json("/v1/users")).as_object();
    EXPECT_EQ(body.at("type").as_string(), "about:blank");
    EXPECT_EQ(body.at("title").as_string(), "Conflict");
    EXPECT_EQ(body.at("status").as_int64(), 409);
    EXPECT_EQ(body.at("detail").as_string(), "email already registered");
    EXPECT_EQ(body.at("instance").as_string(), "/v1/users");
}

TEST(Problem, ResponseCarriesProblemJsonMediaTypeAndStatus) {
    http::Response r = Problem::payload_too_large("body over 1 MiB").to_response();
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.headers.get("content-type").value_or(""), "application/problem+json");
}

TEST(Problem, ExtensionsCannotOverrideStandardMembers) {
    Problem p = Problem::bad_request("x");
    p.with("status", 200).with("field", "/email");
    auto body = boost::json::parse(p.to_json()).as_object();
    EXPECT_EQ(body.at("status").as_int64(), 400);
    EXPECT_EQ(body.at("field").as_string(), "/email");
}

TEST(Problem, InternalErrorOmitsDetail) {
    auto body = boost::json::parse(Problem::internal().to_json()).as_object();
    EXPECT_FALSE(body.contains("detail"));
    EXPECT_EQ(body.at("status").as_int64(), 500);
}

}  // namespace
}  // namespace olympus
