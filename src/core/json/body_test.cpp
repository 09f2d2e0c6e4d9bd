#include "json/body.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "problem.hpp"

namespace olympus::json {
namespace {

http::Request json_request(std::string body, std::string content_type = "application/json") {
    http::Request r;
    r.method = http::Method::post;
    r.headers.set("Content-Type", content_type);
    r.body = std::move(body);
    return r;
}

// Runs `f`, expects a Problem, and returns it.
template <class F>
Problem problem_of(F&& f) {
    try {
        f();
    } catch (const Problem& p) {
        return p;
    }
    ADD_FAILURE() << "no Problem thrown";
    return Problem::internal();
}

std::string pointer_of(const Problem& p) {
    auto body = boost::json::parse(p.to_json()).as_object();
    return std::string(body.at("errors").as_array().at(0).as_object().at("pointer").as_string());
}

TEST(JsonBody, ParsesAnObjectWithJsonOrPlusJsonMediaTypes) {
    EXPECT_EQ(parse_object(json_request(R"({"a":1})")).at("a").as_int64(), 1);
    EXPECT_EQ(parse_object(json_request(R"({"a":1})", "application/json; charset=utf-8")).size(), 1u);
    EXPECT_EQ(parse_object(json_request(R"({})", "application/merge-patch+json")).size(), 0u);
}

TEST(JsonBody, WrongMediaTypeIs415) {
    EXPECT_EQ(problem_of([] { parse_object(json_request(R"({})", "text/plain")); }).status(), 415);
    http::Request none;
    none.body = "{}";
    EXPECT_EQ(problem_of([&] { parse_object(none); }).status(), 415);
}

TEST(JsonBody, MalformedJsonIs400WithPosition) {
    Problem p = problem_of([] { parse_object(json_request(R"({"a": tru})")); });
    EXPECT_EQ(p.status(), 400);
    EXPECT_NE(p.detail().find("malformed JSON near byte"), std::string::npos);
    EXPECT_EQ(problem_of([] { parse_object(json_request(R"({"a":1} trailing)")); }).status(), 400);
    EXPECT_EQ(problem_of([] { parse_object(json_request("")); }).status(), 400);
    EXPECT_EQ(problem_of([] { parse_object(json_request("{\"a\":\"\xff\xfe\"}")); }).status(), 400);
}

TEST(JsonBody, NonObjectDocumentIs400) {
    EXPECT_EQ(problem_of([] { parse_object(json_request("[1,2]")); }).status(), 400);
    EXPECT_EQ(problem_of([] { parse_object(json_request("\"text\"")); }).status(), 400);
}

TEST(JsonBody, DeepNestingIsRefused) {
    std::string deep(kMaxDepth + 5, '[');
    deep += std::string(kMaxDepth + 5, ']');
    Problem p = problem_of([&] { parse_object(json_request("{\"a\":" + deep + "}")); });
    EXPECT_EQ(p.status(), 400);
    EXPECT_NE(p.detail().find("nested deeper"), std::string::npos);
}

TEST(ObjectReader, ReadsTypedMembers) {
    auto o =
        boost::json::parse(R"({"s":"x","n":3,"d":4.0,"b":true,"o":{"k":"v"},"a":[1],"z":null})").as_object();
    ObjectReader r(o);
    EXPECT_EQ(r.required_string("s"), "x");
    EXPECT_EQ(r.required_int("n", 0, 10), 3);
    EXPECT_EQ(r.required_int("d", 0, 10), 4);
    EXPECT_TRUE(r.required_bool("b"));
    EXPECT_EQ(r.required_object("o").required_string("k"), "v");
    EXPECT_EQ(r.required_array("a", 5).size(), 1u);
    EXPECT_FALSE(r.optional_string("z").has_value());
    EXPECT_FALSE(r.optional_int("missing", 0, 1).has_value());
}

TEST(ObjectReader, WrongTypeNamesTheMemberByPointer) {
    auto o = boost::json::parse(R"({"items":[{"quantity":"2"}]})").as_object();
    ObjectReader r(o);
    const auto& items = r.required_array("items", 10);
    Problem p =
        problem_of([&] { object_at(items, 0, r.pointer_to("items")).required_int("quantity", 1, 99); });
    EXPECT_EQ(p.status(), 400);
    EXPECT_EQ(pointer_of(p), "/items/0/quantity");
    EXPECT_NE(p.detail().find("must be an integer, not a string"), std::string::npos);
}

TEST(ObjectReader, RangeLengthAndPresenceAreChecked) {
    auto o = boost::json::parse(R"({"n":1000,"f":1.5,"s":"abcdef","big":18446744073709551615})").as_object();
    ObjectReader r(o);
    EXPECT_EQ(pointer_of(problem_of([&] { r.required_int("n", 0, 10); })), "/n");
    EXPECT_EQ(pointer_of(problem_of([&] { r.required_int("f", 0, 10); })), "/f");
    EXPECT_EQ(pointer_of(problem_of([&] { r.required_int("big", 0, 10); })), "/big");
    EXPECT_EQ(pointer_of(problem_of([&] { r.required_string("s", 3); })), "/s");
    Problem missing = problem_of([&] { r.required_string("email"); });
    EXPECT_EQ(pointer_of(missing), "/email");
    EXPECT_NE(missing.detail().find("is required"), std::string::npos);
}

TEST(ObjectReader, PointerTokensAreEscaped) {
    auto o = boost::json::parse(R"({"a/b~c":1})").as_object();
    ObjectReader r(o);
    EXPECT_EQ(pointer_of(problem_of([&] { r.required_string("a/b~c"); })), "/a~1b~0c");
}

TEST(ObjectReader, UnknownMembersAreRejectedWhenAsked) {
    auto o = boost::json::parse(R"({"email":"a@b","emial":"typo"})").as_object();
    ObjectReader r(o);
    EXPECT_EQ(pointer_of(problem_of([&] { r.reject_unknown({"email"}); })), "/emial");
    EXPECT_NO_THROW(r.reject_unknown({"email", "emial"}));
}

TEST(ObjectReader, InjectionStringsAreJustStrings) {
    auto o = boost::json::parse(R"({"name":"'; DROP TABLE users; --<script>"})").as_object();
    EXPECT_EQ(ObjectReader(o).required_string("name"), "'; DROP TABLE users; --<script>");
}

}  // namespace
}  // namespace olympus::json
