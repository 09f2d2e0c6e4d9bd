#include "auth/verifier.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "auth/test_tokens.hpp"

namespace olympus::auth {
namespace {

using Kind = TokenError::Kind;
using testing::jose_tokens;
using Clock = std::chrono::system_clock;

template <class T>
T run(boost::asio::awaitable<T> work) {
    boost::asio::io_context io;
    auto result = boost::asio::co_spawn(io, std::move(work), boost::asio::use_future);
    io.run();
    return result.get();
}

std::optional<Kind> refusal(const TokenVerifier& verifier, const std::string& token) {
    try {
        run(verifier.verify(token));
        return std::nullopt;
    } catch (const TokenError& e) {
        return e.kind();
    }
}

VerifiedTokenCache::Digest key(int i) {
    return VerifiedTokenCache::digest("token-" + std::to_string(i));
}

std::shared_ptr<const Claims> claims_of(std::string subject) {
    auto c = std::make_shared<Claims>();
    c->subject = std::move(subject);
    return c;
}

// A clock the test moves by hand, starting when the fixture tokens were made.
struct ManualClock {
    std::atomic<std::int64_t> seconds{jose_tokens().now};
    std::function<Clock::time_point()> function() {
        return [this] { return Clock::time_point(std::chrono::seconds(seconds.load())); };
    }
};

struct Verifier {
    explicit Verifier(ManualClock& clock, std::size_t capacity = 100)
        : keys(std::make_shared<StaticKeys>(KeySet::from_jwks(jose_tokens().jwks))),
          verifier(VerifierOptions{jose_tokens().options(), capacity, clock.function()}, keys) {}
    std::shared_ptr<StaticKeys> keys;
    TokenVerifier verifier;
};

TEST(VerifiedTokenCache, EvictsTheLeastRecentlyUsedEntry) {
    VerifiedTokenCache cache(2, 1);
    cache.insert(key(1), claims_of("one"));
    cache.insert(key(2), claims_of("two"));
    ASSERT_NE(cache.find(key(1)), nullptr);  // 1 is now more recent than 2
    cache.insert(key(3), claims_of("three"));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.find(key(2)), nullptr);
    EXPECT_EQ(cache.find(key(1))->subject, "one");
    EXPECT_EQ(cache.find(key(3))->subject, "three");
    cache.erase(key(1));
    EXPECT_EQ(cache.find(key(1)), nullptr);
    EXPECT_EQ(cache.hits(), 3u);
    EXPECT_EQ(cache.misses(), 2u);
}

TEST(VerifiedTokenCache, StaysWithinItsCapacityAcrossShards) {
    VerifiedTokenCache cache(100, 16);
    for (int i = 0; i < 2000; ++i) cache.insert(key(i), claims_of("x"));
    EXPECT_LE(cache.size(), 100u);
    EXPECT_GE(cache.size(), 80u);  // SHA-256 spreads keys: every shard fills
    VerifiedTokenCache disabled(0);
    disabled.insert(key(1), claims_of("x"));
    EXPECT_EQ(disabled.find(key(1)), nullptr);
}

TEST(VerifiedTokenCache, SurvivesConcurrentReadersAndWriters) {
    VerifiedTokenCache cache(64, 4);
    std::vector<std::thread> threads;
    std::atomic<int> found{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 3000; ++i) {
                cache.insert(key(i % 200 + t), claims_of("x"));
                if (auto c = cache.find(key((i * 7) % 200)); c && c->subject == "x") ++found;
                if (i % 13 == 0) cache.erase(key(i % 200));
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_LE(cache.size(), 64u);
    EXPECT_GT(found.load(), 0);
    EXPECT_EQ(cache.hits() + cache.misses(), 4u * 3000u);
}

TEST(TokenVerifier, TokenSeenAgainSkipsTheSignatureCheck) {
    ManualClock clock;
    Verifier v(clock);
    const auto token = jose_tokens().token("valid_es256");
    auto first = run(v.verifier.verify(token));
    EXPECT_EQ(first->subject, "user-42");
    // Without any key, only the cache can accept the token again.
    v.keys->replace(KeySet());
    auto second = run(v.verifier.verify(token));
    EXPECT_EQ(second, first);
    EXPECT_EQ(v.verifier.cache().hits(), 1u);
    EXPECT_EQ(refusal(v.verifier, jose_tokens().token("valid_rs256")), Kind::unknown_key);
}

TEST(TokenVerifier, CachedTokenStillExpires) {
    ManualClock clock;
    Verifier v(clock);
    const auto token = jose_tokens().token("valid_es256");  // exp = now + 600, leeway 60
    ASSERT_EQ(refusal(v.verifier, token), std::nullopt);
    clock.seconds += 600 + 59;
    EXPECT_EQ(refusal(v.verifier, token), std::nullopt);
    EXPECT_EQ(v.verifier.cache().size(), 1u);
    clock.seconds += 1;
    EXPECT_EQ(refusal(v.verifier, token), Kind::expired);
    EXPECT_EQ(v.verifier.cache().size(), 0u);  // dropped, not kept to be refused again
    EXPECT_EQ(refusal(v.verifier, token), Kind::expired);
}

TEST(TokenVerifier, RefusedTokensAreNotRemembered) {
    ManualClock clock;
    Verifier v(clock);
    for (const char* name : {"tampered_payload", "expired", "alg_none", "hs256_with_rsa_public_key"}) {
        SCOPED_TRACE(name);
        EXPECT_TRUE(refusal(v.verifier, jose_tokens().token(name)).has_value());
        EXPECT_TRUE(refusal(v.verifier, jose_tokens().token(name)).has_value());
    }
    EXPECT_EQ(v.verifier.cache().size(), 0u);
    EXPECT_EQ(v.verifier.cache().hits(), 0u);
}

TEST(TokenVerifier, RefusesOversizedTokensBeforeHashing) {
    ManualClock clock;
    Verifier v(clock);
    EXPECT_EQ(refusal(v.verifier, jose_tokens().token("oversized")), Kind::too_large);
    EXPECT_EQ(v.verifier.cache().misses(), 0u);
}

class NoKeys final : public KeyProvider {
  public:
    boost::asio::awaitable<std::shared_ptr<const KeySet>> keys(std::string) override { co_return nullptr; }
};

VerifierOptions options() {
    VerifierOptions o;
    o.validation = jose_tokens().options();
    return o;
}

TEST(TokenVerifier, WithoutAnyKeyAnswersUnavailableNotUnauthorized) {
    TokenVerifier verifier(options(), std::make_shared<NoKeys>());
    try {
        run(verifier.verify(jose_tokens().token("valid_es256")));
        FAIL() << "accepted without keys";
    } catch (const TokenError& e) {
        EXPECT_EQ(e.kind(), Kind::keys_unavailable);
        EXPECT_EQ(e.status(), 503);
    }
}

TEST(TokenVerifier, RefusesIncompleteConfiguration) {
    EXPECT_THROW(TokenVerifier(VerifierOptions{}, std::make_shared<NoKeys>()), std::invalid_argument);
    EXPECT_THROW(TokenVerifier(options(), nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace olympus::auth
