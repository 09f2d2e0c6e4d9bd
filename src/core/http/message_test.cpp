#include "http/message.hpp"

#include <gtest/gtest.h>

namespace olympus::http {
namespace {

TEST(Headers, LookupIsCaseInsensitiveAndSetReplaces) {
    Headers h;
    h.add("Content-Type", "text/plain");
    h.add("X-Multi", "1");
    h.add("x-multi", "2");
    EXPECT_EQ(h.get("content-type").value_or(""), "text/plain");
    h.set("X-MULTI", "3");
    EXPECT_EQ(h.size(), 2u);
    EXPECT_EQ(h.get("x-multi").value_or(""), "3");
    h.erase("CONTENT-TYPE");
    EXPECT_FALSE(h.contains("content-type"));
}

TEST(Request, SplitsPathAndQueryAndDecodesParameters) {
    Request r;
    r.target = "/v1/users?email=a%40b.c&limit=5&empty=&flag&q=two+words&%6Bey=v";
    EXPECT_EQ(r.path(), "/v1/users");
    EXPECT_EQ(r.query(), "email=a%40b.c&limit=5&empty=&flag&q=two+words&%6Bey=v");
    EXPECT_EQ(r.query_param("email").value_or(""), "a@b.c");
    EXPECT_EQ(r.query_param("limit").value_or(""), "5");
    EXPECT_EQ(r.query_param("empty").value_or("x"), "");
    EXPECT_TRUE(r.query_param("flag").has_value());
    EXPECT_FALSE(r.query_param("missing").has_value());
    EXPECT_EQ(r.query_param("q").value_or(""), "two words");
    EXPECT_EQ(r.query_param("key").value_or(""), "v");
}

TEST(Request, QueryParameterOfATargetWithoutQueryIsAbsent) {
    Request r;
    r.target = "/v1/items/7";
    EXPECT_FALSE(r.query_param("cursor").has_value());
    r.target = "/v1/items/7?";
    EXPECT_FALSE(r.query_param("cursor").has_value());
}

TEST(Method, NamesAreCaseSensitive) {
    EXPECT_EQ(method_from_string("GET"), Method::get);
    EXPECT_EQ(method_from_string("get"), Method::other);
    EXPECT_EQ(method_from_string("DELETE"), Method::delete_);
    EXPECT_EQ(to_string(Method::patch), "PATCH");
}

TEST(ReasonPhrase, KnowsTheStatusesWeSend) {
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(413), "Content Too Large");
    EXPECT_EQ(reason_phrase(299), "");
}

}  // namespace
}  // namespace olympus::http
