// The JWKS client against a real issuer stand-in: Olympus's own HTTP server on 127.0.0.1:0 serving
// jose-made key sets, which the test rotates, breaks and takes down. Time for freshness and rate
// limits is a clock the test moves; the network is real.

#include "auth/jwks.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "auth/bearer.hpp"
#include "auth/http_jwks_source.hpp"
#include "auth/test_tokens.hpp"
#include "auth/verifier.hpp"
#include "http/client.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

namespace olympus::auth {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::jose_tokens;
using SteadyClock = std::chrono::steady_clock;

// The issuer's JWKS endpoint, answering what the test sets.
class Issuer {
  public:
    Issuer() {
        router_.get("/.well-known/jwks.json",
                    [this](http::RequestContext&) -> asio::awaitable<http::Response> {
                        std::lock_guard lock(mutex_);
                        ++hits_;
                        auto response = http::Response::text(status_, body_, "application/jwk-set+json");
                        if (!cache_control_.empty()) response.headers.set("Cache-Control", cache_control_);
                        co_return response;
                    });
        serve(jose_tokens().jwks);
        start(0);
    }
    ~Issuer() { stop(); }

    void serve(const boost::json::value& jwks, std::string cache_control = {}) {
        answer(200, boost::json::serialize(jwks), std::move(cache_control));
    }
    void answer(int status, std::string body, std::string cache_control = {}) {
        std::lock_guard lock(mutex_);
        status_ = status;
        body_ = std::move(body);
        cache_control_ = std::move(cache_control);
    }
    int hits() const {
        std::lock_guard lock(mutex_);
        return hits_;
    }

    // Takes the issuer off the network: connections are refused until start() again.
    void stop() {
        if (!server_) return;
        server_->drain(0ms);
        server_.reset();
        pool_.reset();
    }
    void start(std::uint16_t port) {
        pool_ = std::make_unique<http::IoPool>(1);
        http::ServerOptions options;
        options.port = port;
        server_ = std::make_unique<http::Server>(*pool_, options, router_);
        server_->start();
        pool_->run();
        port_ = server_->port();
    }
    void restart() { start(port_); }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/.well-known/jwks.json"; }

  private:
    http::Router router_;
    std::unique_ptr<http::IoPool> pool_;
    std::unique_ptr<http::Server> server_;
    std::uint16_t port_ = 0;

    mutable std::mutex mutex_;
    int status_ = 200;
    std::string body_;
    std::string cache_control_;
    int hits_ = 0;
};

class JwksClientTest : public ::testing::Test {
  protected:
    JwksClientTest() { make_client(JwksOptions{}); }

    void make_client(JwksOptions options) {
        options.clock = [this] { return SteadyClock::time_point(std::chrono::seconds(seconds_.load())); };
        http::ClientOptions http;
        http.connect_timeout = 500ms;
        http.max_attempts = 1;  // the issuer-down tests count fetch attempts one for one
        client_ =
            std::make_shared<JwksClient>(std::make_shared<HttpJwksSource>(issuer_.url(), http), options);
    }

    void advance(std::chrono::seconds by) { seconds_ += by.count(); }

    template <class T>
    T run(asio::awaitable<T> task) {
        auto future = asio::co_spawn(io_, std::move(task), asio::use_future);
        io_.restart();
        io_.run_for(20s);
        return future.get();
    }

    std::shared_ptr<const KeySet> keys(std::string kid) { return run(client_->keys(std::move(kid))); }

    Issuer issuer_;
    std::atomic<std::int64_t> seconds_{1'000'000};
    asio::io_context io_;  // outlives the client, whose connections are bound to it
    std::shared_ptr<JwksClient> client_;
};

TEST_F(JwksClientTest, FetchesOnFirstUseThenServesFromMemory) {
    EXPECT_EQ(client_->current(), nullptr);
    auto first = keys("es-1");
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->size(), 3u);
    EXPECT_EQ(issuer_.hits(), 1);
    auto second = keys("rs-1");
    EXPECT_EQ(second, first);
    EXPECT_EQ(keys("").get(), first.get());  // a token without kid needs no fetch either
    EXPECT_EQ(issuer_.hits(), 1);
}

TEST_F(JwksClientTest, RefetchesOnAnUnknownKidAfterRotation) {
    ASSERT_FALSE(keys("es-1")->contains("es-2"));
    issuer_.serve(jose_tokens().jwks_rotated);
    advance(30s);
    auto rotated = keys("es-2");
    EXPECT_TRUE(rotated->contains("es-2"));
    EXPECT_EQ(issuer_.hits(), 2);
    EXPECT_EQ(client_->fetch_attempts(), 2u);
}

TEST_F(JwksClientTest, RateLimitsRefetchesForUnknownKids) {
    keys("es-1");
    // Made-up kids right after a fetch: no request reaches the issuer.
    for (int i = 0; i < 50; ++i) EXPECT_FALSE(keys("made-up-" + std::to_string(i))->contains("es-2"));
    EXPECT_EQ(issuer_.hits(), 1);
    advance(29s);
    keys("nobody");
    EXPECT_EQ(issuer_.hits(), 1);
    advance(1s);
    keys("nobody");
    EXPECT_EQ(issuer_.hits(), 2);
    for (int i = 0; i < 50; ++i) keys("made-up-" + std::to_string(i));
    EXPECT_EQ(issuer_.hits(), 2);
}

TEST_F(JwksClientTest, KeepsServingCachedKeysWhileTheIssuerIsDown) {
    auto before = keys("es-1");
    issuer_.stop();
    advance(31s);
    auto during = keys("es-2");  // a fetch is attempted, fails, and the old keys stay
    EXPECT_EQ(during, before);
    EXPECT_EQ(client_->fetch_attempts(), 2u);
    EXPECT_EQ(client_->fetch_failures(), 1u);

    // Tokens signed with the old keys still verify.
    VerifierOptions options;
    options.validation = jose_tokens().options();
    options.clock = [] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(jose_tokens().now));
    };
    TokenVerifier verifier(options, client_);
    EXPECT_EQ(run(verifier.verify(jose_tokens().token("valid_es256")))->subject, "user-42");

    // Back up, with rotated keys: the next permitted refetch picks them up.
    issuer_.serve(jose_tokens().jwks_rotated);
    issuer_.restart();
    advance(30s);
    EXPECT_EQ(run(verifier.verify(jose_tokens().token("valid_rotated_key")))->subject, "user-42");
    EXPECT_EQ(client_->fetch_failures(), 1u);
}

TEST_F(JwksClientTest, BadAnswersNeverReplaceGoodKeys) {
    auto good = keys("es-1");
    const std::vector<std::pair<int, std::string>> answers = {
        {503, R"({"keys":[]})"}, {200, "not json"},
        {200, R"({"keys":[]})"}, {200, R"({"keys":[{"kty":"oct","kid":"x","k":"c2VjcmV0"}]})"},
        {200, R"([])"},
    };
    for (const auto& [status, body] : answers) {
        SCOPED_TRACE(body);
        issuer_.answer(status, body);
        advance(30s);
        EXPECT_EQ(keys("es-2"), good);
    }
    EXPECT_EQ(issuer_.hits(), 1 + static_cast<int>(answers.size()));
    EXPECT_EQ(client_->fetch_failures(), answers.size());
}

TEST_F(JwksClientTest, WithoutAnyKeysRetriesSoonAndVerifierAnswersUnavailable) {
    issuer_.stop();
    EXPECT_EQ(keys("es-1"), nullptr);
    VerifierOptions options;
    options.validation = jose_tokens().options();
    TokenVerifier verifier(options, client_);
    try {
        run(verifier.verify(jose_tokens().token("valid_es256")));
        FAIL() << "verified without keys";
    } catch (const TokenError& e) {
        EXPECT_EQ(e.kind(), TokenError::Kind::keys_unavailable);
    }
    EXPECT_EQ(client_->fetch_attempts(), 1u);  // the second call was within the retry interval
    issuer_.restart();
    advance(1s);
    ASSERT_NE(keys("es-1"), nullptr);
    EXPECT_EQ(client_->fetch_attempts(), 2u);
}

TEST_F(JwksClientTest, HonoursCacheControlMaxAgeInTheBackground) {
    issuer_.serve(jose_tokens().jwks, "public, max-age=120");
    auto first = keys("es-1");
    advance(119s);
    keys("es-1");
    EXPECT_EQ(issuer_.hits(), 1);
    issuer_.serve(jose_tokens().jwks_rotated, "max-age=120");
    advance(1s);
    // Stale: the caller gets the keys in hand at once; the refresh completes in the background
    // (run() returns once the io_context has no work left, the detached refresh included).
    EXPECT_EQ(keys("es-1"), first);
    EXPECT_EQ(issuer_.hits(), 2);
    EXPECT_TRUE(client_->current()->contains("es-2"));
}

TEST_F(JwksClientTest, BoundsTheIssuersMaxAge) {
    issuer_.serve(jose_tokens().jwks, "max-age=0");
    keys("es-1");
    advance(29s);
    keys("es-1");
    EXPECT_EQ(issuer_.hits(), 1);  // the 30 s floor
    advance(1s);
    keys("es-1");
    EXPECT_EQ(issuer_.hits(), 2);

    issuer_.serve(jose_tokens().jwks, "max-age=99999999");
    advance(30s);
    keys("unknown");
    EXPECT_EQ(issuer_.hits(), 3);
    advance(3599s);
    keys("es-1");
    EXPECT_EQ(issuer_.hits(), 3);
    advance(1s);  // the one-hour ceiling
    keys("es-1");
    EXPECT_EQ(issuer_.hits(), 4);
}

TEST_F(JwksClientTest, ConcurrentCallersShareOneFetch) {
    keys("es-1");
    issuer_.serve(jose_tokens().jwks_rotated);
    advance(30s);
    std::vector<std::future<std::shared_ptr<const KeySet>>> results;
    for (int i = 0; i < 20; ++i)
        results.push_back(asio::co_spawn(io_, client_->keys("es-2"), asio::use_future));
    io_.restart();
    io_.run_for(20s);
    for (auto& r : results) EXPECT_TRUE(r.get()->contains("es-2"));
    EXPECT_EQ(issuer_.hits(), 2);
}

TEST_F(JwksClientTest, RefreshFetchesRegardlessOfTheRateLimit) {
    keys("es-1");
    issuer_.serve(jose_tokens().jwks_rotated);
    EXPECT_TRUE(run(client_->refresh()));
    EXPECT_TRUE(client_->current()->contains("es-2"));
    issuer_.stop();
    EXPECT_FALSE(run(client_->refresh()));
    EXPECT_TRUE(client_->current()->contains("es-2"));
}

// The whole path on real sockets: a service on two I/O threads behind BearerAuth, its verifier
// fetching the issuer's JWKS over HTTP, and callers sending jose-made tokens concurrently.
TEST(BearerAuthOverHttp, ServiceAdmitsTokensCheckedAgainstTheIssuersJwks) {
    Issuer issuer;
    http::IoPool pool(2);
    auto router = std::make_unique<http::Router>();
    router->get("/v1/me", [](http::RequestContext& ctx) -> asio::awaitable<http::Response> {
        co_return http::Response::text(200, ctx.user_id);
    });
    JwksOptions jwks_options;
    jwks_options.refetch_interval = 0s;  // so that the rotation below is picked up at once
    auto jwks = std::make_shared<JwksClient>(std::make_shared<HttpJwksSource>(issuer.url()), jwks_options);
    VerifierOptions options;
    options.validation = jose_tokens().options();
    router->use(std::make_shared<BearerAuth>(std::make_shared<TokenVerifier>(options, jwks), AccessRules{}));
    auto server = std::make_unique<http::Server>(pool, http::ServerOptions{}, *router);
    server->start();
    pool.run();

    {
        asio::io_context io;
        http::ClientOptions client_options;
        client_options.base_url = "http://127.0.0.1:" + std::to_string(server->port());
        http::Client client(client_options);
        auto call = [&](std::string token) -> asio::awaitable<http::Response> {
            http::Request request;
            request.method = http::Method::get;
            request.method_name = "GET";
            request.target = "/v1/me";
            request.headers.set("Authorization", "Bearer " + token);
            co_return co_await client.send(std::move(request));
        };
        auto burst = [&](const std::vector<std::string>& names) {
            std::vector<std::future<http::Response>> results;
            for (const auto& name : names) {
                results.push_back(asio::co_spawn(io, call(jose_tokens().token(name)), asio::use_future));
            }
            io.restart();
            io.run_for(20s);
            std::vector<http::Response> responses;
            for (auto& r : results) responses.push_back(r.get());
            return responses;
        };

        std::vector<std::string> valid;
        for (int i = 0; i < 4; ++i) {
            for (const char* name :
                 {"valid_rs256", "valid_es256", "valid_eddsa", "valid_client_credentials"}) {
                valid.emplace_back(name);
            }
        }
        for (const auto& r : burst(valid))
            EXPECT_TRUE(r.status == 200 && (r.body == "user-42" || r.body == "hermes"));
        EXPECT_EQ(issuer.hits(), 1);  // the callers that found no keys waited for one fetch

        auto refused = burst({"valid_rotated_key", "tampered_payload"});
        EXPECT_EQ(refused[0].status, 401);
        EXPECT_EQ(refused[1].status, 401);
        EXPECT_NE(std::string(refused[1].headers.get("WWW-Authenticate").value_or("")).find("invalid_token"),
                  std::string::npos);

        issuer.serve(jose_tokens().jwks_rotated);
        auto rotated = burst({"valid_rotated_key"});
        EXPECT_EQ(rotated[0].status, 200);
        EXPECT_EQ(rotated[0].body, "user-42");
    }

    // The HTTP client inside the JWKS source is bound to the pool's io_contexts: stop the loops,
    // then drop it, then the contexts.
    server->drain(1s);
    server.reset();
    pool.stop();
    router.reset();
    jwks.reset();
}

TEST(HttpJwksSource, RefusesPlainHttpBeyondLoopbackAndBadUrls) {
    EXPECT_THROW(HttpJwksSource("http://zeus.example/.well-known/jwks.json"), std::invalid_argument);
    EXPECT_THROW(HttpJwksSource("/.well-known/jwks.json"), std::invalid_argument);
    EXPECT_THROW(HttpJwksSource("https://user:pw@zeus.example/jwks"), std::invalid_argument);
    EXPECT_NO_THROW(HttpJwksSource("https://zeus.example/.well-known/jwks.json?v=2"));
    EXPECT_NO_THROW(HttpJwksSource("http://127.0.0.1:9/jwks"));
}

TEST(CacheControl, ReadsMaxAgeAndNoStore) {
    EXPECT_EQ(cache_control_max_age("max-age=300"), 300s);
    EXPECT_EQ(cache_control_max_age("public, Max-Age = 60 , must-revalidate"), 60s);
    EXPECT_EQ(cache_control_max_age(R"(max-age="45")"), 45s);
    EXPECT_EQ(cache_control_max_age("no-store"), 0s);
    EXPECT_EQ(cache_control_max_age("max-age=60, no-cache"), 0s);
    EXPECT_EQ(cache_control_max_age("max-age=99999999999999999999"), std::chrono::seconds(INT32_MAX));
    EXPECT_EQ(cache_control_max_age("public"), std::nullopt);
    EXPECT_EQ(cache_control_max_age("max-age=-1"), std::nullopt);
    EXPECT_EQ(cache_control_max_age("max-age=1x"), std::nullopt);
    EXPECT_EQ(cache_control_max_age("s-maxage=10"), std::nullopt);
    EXPECT_EQ(cache_control_max_age(""), std::nullopt);
}

}  // namespace
}  // namespace olympus::auth
