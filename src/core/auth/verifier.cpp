#include "auth/verifier.hpp"

#include <stdexcept>
#include <utility>

namespace olympus::auth {

StaticKeys::StaticKeys(KeySet keys) : keys_(std::make_shared<const KeySet>(std::move(keys))) {}

boost::asio::awaitable<std::shared_ptr<const KeySet>> StaticKeys::keys(std::string) {
    std::shared_ptr<const KeySet> current;
    {
        std::lock_guard lock(mutex_);
        current = keys_;
    }
    co_return current;
}

void StaticKeys::replace(KeySet keys) {
    auto fresh = std::make_shared<const KeySet>(std::move(keys));
    std::lock_guard lock(mutex_);
    keys_.swap(fresh);
}

TokenVerifier::TokenVerifier(VerifierOptions options, std::shared_ptr<KeyProvider> keys)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      cache_(std::make_unique<VerifiedTokenCache>(options_.cache_capacity)) {
    validate(options_.validation);
    if (!keys_) throw std::invalid_argument("token verifier: no key provider");
}

std::chrono::system_clock::time_point TokenVerifier::now() const {
    return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

boost::asio::awaitable<std::shared_ptr<const Claims>> TokenVerifier::verify(std::string token) const {
    const ValidationOptions& validation = options_.validation;
    // Checked before hashing, so that hostile megabytes cost nothing.
    if (token.size() > validation.max_token_bytes)
        throw TokenError(TokenError::Kind::too_large, "token exceeds the size limit");

    const auto digest = VerifiedTokenCache::digest(token);
    if (auto cached = cache_->find(digest)) {
        try {
            check_lifetime(*cached, validation, now());
        } catch (const TokenError& e) {
            if (e.kind() == TokenError::Kind::expired) cache_->erase(digest);
            throw;
        }
        co_return cached;
    }

    DecodedJws jws = decode_jws(token, validation);
    auto keys = co_await keys_->keys(jws.kid);
    if (!keys) throw TokenError(TokenError::Kind::keys_unavailable, "the issuer's keys are not available");
    auto key = select_key(jws, *keys);
    if (!key->verify(jws.algorithm, jws.signing_input, jws.signature)) {
        throw TokenError(TokenError::Kind::bad_signature, "signature is invalid");
    }
    auto claims = std::make_shared<const Claims>(check_claims(std::move(jws.payload), validation, now()));
    cache_->insert(digest, claims);
    co_return claims;
}

}  // namespace olympus::auth
