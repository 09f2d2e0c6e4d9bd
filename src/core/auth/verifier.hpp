#pragma once

// The token verifier a service holds: checks a bearer token against its issuer's keys (from a
// KeyProvider, normally the JWKS client) and remembers verified tokens. One per issuer and
// audience; shared by every I/O thread.
//
//   auto verifier = std::make_shared<auth::TokenVerifier>(options, jwks_client);
//   std::shared_ptr<const auth::Claims> claims = co_await verifier->verify(token);  // or TokenError

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "auth/claims.hpp"
#include "auth/jwk.hpp"
#include "auth/jwt.hpp"
#include "auth/token_cache.hpp"

namespace olympus::auth {

// Where verification keys come from.
class KeyProvider {
  public:
    virtual ~KeyProvider() = default;
    // The current keys, refreshed first when they lack `kid` and a refresh is allowed now; null when
    // none could ever be had (the issuer has not answered yet). "" for a token without a kid.
    virtual boost::asio::awaitable<std::shared_ptr<const KeySet>> keys(std::string kid) = 0;
};

// A fixed key set: for a service that signs its own tokens (Zeus), and for tests. Thread-safe;
// replace() swaps the whole set (key rotation from configuration).
class StaticKeys final : public KeyProvider {
  public:
    explicit StaticKeys(KeySet keys);
    boost::asio::awaitable<std::shared_ptr<const KeySet>> keys(std::string kid) override;
    void replace(KeySet keys);

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const KeySet> keys_;
};

struct VerifierOptions {
    ValidationOptions validation;
    // Verified tokens remembered; 0 disables the cache. At ≈ 1.5 KiB per entry (token claims),
    // the default bounds it near 15 MiB.
    std::size_t cache_capacity = 10'000;
    // The time used for exp, nbf and iat; tests replace it.
    std::function<std::chrono::system_clock::time_point()> clock;
};

class TokenVerifier {
  public:
    // Throws std::invalid_argument when the validation options are incomplete (see validate()).
    TokenVerifier(VerifierOptions options, std::shared_ptr<KeyProvider> keys);

    // The claims of a valid token; throws TokenError otherwise (keys_unavailable when the issuer's
    // keys cannot be had). A token verified before is not checked cryptographically again: only its
    // lifetime is, against the clock. Safe to call from several threads at once.
    boost::asio::awaitable<std::shared_ptr<const Claims>> verify(std::string token) const;

    const ValidationOptions& options() const { return options_.validation; }
    const VerifiedTokenCache& cache() const { return *cache_; }

  private:
    std::chrono::system_clock::time_point now() const;

    VerifierOptions options_;
    std::shared_ptr<KeyProvider> keys_;
    std::unique_ptr<VerifiedTokenCache> cache_;
};

}  // namespace olympus::auth
