#include "auth/bearer.hpp"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "auth/claims.hpp"
#include "auth/test_tokens.hpp"

namespace olympus::auth {
namespace {

using http::Method;
using testing::jose_tokens;

boost::asio::awaitable<http::Response> whoami(http::RequestContext& ctx) {
    std::string scopes = ctx.claims ? std::to_string(ctx.claims->scopes.size()) : "none";
    co_return http::Response::text(200, ctx.user_id + "|" + scopes);
}

std::shared_ptr<TokenVerifier> make_verifier(std::shared_ptr<KeyProvider> keys) {
    VerifierOptions options;
    options.validation = jose_tokens().options();
    options.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(jose_tokens().now));
    };
    return std::make_shared<TokenVerifier>(options, std::move(keys));
}

class BearerAuthTest : public ::testing::Test {
  protected:
    BearerAuthTest() : BearerAuthTest(std::make_shared<StaticKeys>(KeySet::from_jwks(jose_tokens().jwks))) {}
    explicit BearerAuthTest(std::shared_ptr<KeyProvider> keys, std::string realm = {}) {
        router_.get("/livez", whoami);
        router_.get("/v1/me", whoami);
        router_.get("/v1/orders/{id}", whoami);
        router_.del("/v1/orders/{id}", whoami);
        AccessRules rules;
        rules.allow_anonymous("/livez")
            .require(Method::get, "/v1/orders/{id}", {"orders:read"})
            .require(Method::delete_, "/v1/orders/{id}", {"orders:write", "admin"});
        router_.use(std::make_shared<BearerAuth>(make_verifier(std::move(keys)), rules, std::move(realm)));
    }

    http::Response send(Method method, std::string target, std::vector<std::string> authorization = {}) {
        http::Request request;
        request.method = method;
        request.method_name = std::string(http::to_string(method));
        request.target = std::move(target);
        for (const auto& a : authorization) request.headers.add("Authorization", a);
        http::RequestContext ctx{request};
        boost::asio::io_context io;
        auto result = boost::asio::co_spawn(io, router_.dispatch(ctx), boost::asio::use_future);
        io.run();
        return result.get();
    }
    http::Response get(std::string target, const std::string& authorization) {
        return send(Method::get, std::move(target), {authorization});
    }
    static std::string bearer(std::string_view name) { return "Bearer " + jose_tokens().token(name); }

    static std::string challenge(const http::Response& r) {
        return std::string(r.headers.get("WWW-Authenticate").value_or("<none>"));
    }
    static boost::json::object problem(const http::Response& r) {
        EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/problem+json");
        return boost::json::parse(r.body).as_object();
    }

    http::Router router_;
};

TEST_F(BearerAuthTest, PublicRouteNeedsNoToken) {
    EXPECT_EQ(send(Method::get, "/livez").status, 200);
    EXPECT_EQ(get("/livez", "Bearer not-a-token").status, 200);
    EXPECT_EQ(send(Method::head, "/livez").status, 200);
}

TEST_F(BearerAuthTest, MissingTokenGetsABareBearerChallenge) {
    auto r = send(Method::get, "/v1/me");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(challenge(r), "Bearer");
    EXPECT_EQ(problem(r).at("status"), 401);
    // Another scheme is no bearer credential at all (RFC 6750 §3.1: no error code).
    r = get("/v1/me", "Basic dXNlcjpwYXNz");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(challenge(r), "Bearer");
}

TEST_F(BearerAuthTest, MalformedAuthorizationIsInvalidRequest) {
    for (std::string value :
         {"Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearer =abc", "Bearer a=b"}) {
        SCOPED_TRACE(value);
        auto r = get("/v1/me", value);
        EXPECT_EQ(r.status, 400);
        EXPECT_EQ(challenge(r).rfind(R"(Bearer error="invalid_request")", 0), 0u) << challenge(r);
    }
    auto twice = send(Method::get, "/v1/me", {bearer("valid_es256"), bearer("valid_es256")});
    EXPECT_EQ(twice.status, 400);
}

TEST_F(BearerAuthTest, InvalidTokensGetInvalidTokenWithADescription) {
    auto r = get("/v1/me", bearer("expired"));
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(challenge(r), R"(Bearer error="invalid_token", error_description="token has expired")");
    EXPECT_EQ(problem(r).at("detail"), "token has expired");
    for (const char* name :
         {"tampered_payload", "alg_none", "hs256_with_rsa_public_key", "unknown_crit", "wrong_audience",
          "wrong_typ", "oversized", "padded_base64", "es256_with_rsa_kid"}) {
        SCOPED_TRACE(name);
        r = get("/v1/orders/7", bearer(name));
        EXPECT_EQ(r.status, 401);
        EXPECT_EQ(challenge(r).rfind(R"(Bearer error="invalid_token", error_description=")", 0), 0u)
            << challenge(r);
    }
}

TEST_F(BearerAuthTest, MissingScopeIsForbiddenWithTheScopesNeeded) {
    auto r = send(Method::delete_, "/v1/orders/7", {bearer("valid_es256")});  // orders:read orders:write
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(challenge(r), R"(Bearer error="insufficient_scope", scope="orders:write admin")");
    auto body = problem(r);
    EXPECT_EQ(body.at("status"), 403);
    EXPECT_EQ(body.at("required_scope"), "orders:write admin");
    r = get("/v1/orders/7", bearer("valid_no_scope"));
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(challenge(r), R"(Bearer error="insufficient_scope", scope="orders:read")");
}

TEST_F(BearerAuthTest, ValidTokenReachesTheHandlerWithItsClaims) {
    auto r = get("/v1/orders/7", bearer("valid_es256"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "user-42|2");
    EXPECT_EQ(get("/v1/orders/7", "bearer " + jose_tokens().token("valid_rs256")).body, "user-42|2");
    EXPECT_EQ(get("/v1/me", bearer("valid_client_credentials")).body, "hermes|2");
    EXPECT_EQ(get("/v1/me", bearer("valid_no_scope")).body, "user-42|0");  // unlisted route: any valid token
    auto head = send(Method::head, "/v1/orders/7", {bearer("valid_eddsa")});  // HEAD follows GET's rule
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(send(Method::head, "/v1/orders/7").status, 401);
}

TEST_F(BearerAuthTest, UnmatchedRequestsPassThrough) {
    EXPECT_EQ(send(Method::get, "/nowhere").status, 404);
    EXPECT_EQ(send(Method::post, "/v1/orders/7").status, 405);
    EXPECT_EQ(send(Method::options, "/v1/orders/7").status, 204);
}

class BearerAuthRealmTest : public BearerAuthTest {
  protected:
    BearerAuthRealmTest()
        : BearerAuthTest(std::make_shared<StaticKeys>(KeySet::from_jwks(jose_tokens().jwks)), "olympus") {}
};

TEST_F(BearerAuthRealmTest, NamesTheRealmInEveryChallenge) {
    EXPECT_EQ(challenge(send(Method::get, "/v1/me")), R"(Bearer realm="olympus")");
    EXPECT_EQ(
        challenge(get("/v1/me", bearer("wrong_issuer"))),
        R"(Bearer realm="olympus", error="invalid_token", error_description="iss is not the expected issuer")");
    EXPECT_EQ(challenge(send(Method::delete_, "/v1/orders/7", {bearer("valid_admin")})),
              R"(Bearer realm="olympus", error="insufficient_scope", scope="orders:write admin")");
}

class NoKeys final : public KeyProvider {
  public:
    boost::asio::awaitable<std::shared_ptr<const KeySet>> keys(std::string) override { co_return nullptr; }
};

class BearerAuthWithoutKeysTest : public BearerAuthTest {
  protected:
    BearerAuthWithoutKeysTest() : BearerAuthTest(std::make_shared<NoKeys>()) {}
};

TEST_F(BearerAuthWithoutKeysTest, UnreachableIssuerIsUnavailableNotUnauthorized) {
    auto r = get("/v1/me", bearer("valid_es256"));
    EXPECT_EQ(r.status, 503);
    EXPECT_FALSE(r.headers.contains("WWW-Authenticate"));
    EXPECT_EQ(problem(r).at("status"), 503);
}

TEST(ParseBearer, ReadsTheSchemeCaseInsensitivelyAndOneToken68) {
    using Status = BearerCredentials::Status;
    EXPECT_EQ(parse_bearer(std::nullopt).status, Status::absent);
    EXPECT_EQ(parse_bearer("Basic abc").status, Status::absent);
    EXPECT_EQ(parse_bearer("Bearerabc").status, Status::absent);
    EXPECT_EQ(parse_bearer("BEARER a.b-c_d~e+f/g==").token, "a.b-c_d~e+f/g==");
    EXPECT_EQ(parse_bearer("Bearer   tok  ").token, "tok");
    EXPECT_EQ(parse_bearer("Bearer").status, Status::malformed);
    EXPECT_EQ(parse_bearer("Bearer a,b").status, Status::malformed);
    EXPECT_EQ(parse_bearer("Bearer a\tb").status, Status::malformed);
}

TEST(AccessRules, UnlistedRoutesNeedATokenAndMethodRulesWinOverAnonymous) {
    AccessRules rules;
    rules.allow_anonymous("/docs").require(Method::post, "/docs", {"admin"});
    EXPECT_TRUE(rules("/docs", Method::get).anonymous);
    EXPECT_FALSE(rules("/docs", Method::post).anonymous);
    EXPECT_EQ(rules("/docs", Method::post).scopes, std::vector<std::string>{"admin"});
    EXPECT_FALSE(rules("/other", Method::get).anonymous);
    EXPECT_TRUE(rules("/other", Method::get).scopes.empty());
}

}  // namespace
}  // namespace olympus::auth
