#pragma once

// Verification of JWT access tokens in JWS compact serialization (RFC 7515, RFC 7519), profiled by
// RFC 9068. The steps are exposed separately because the key needed for the signature depends on
// the header (its `kid`), and fetching it may have to wait for the network:
//
//   decode_jws     size, base64url, JSON, `alg` allowed, `crit`, `typ`      (no key needed)
//   PublicKey      the signature over "header.payload"
//   check_claims   iss, aud, exp, nbf, iat with leeway; sub/client_id; scope
//
// verify_token does all three against an in-memory KeySet; TokenVerifier (verifier.hpp) adds the
// JWKS client and the verified-token cache.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "auth/claims.hpp"
#include "auth/jwk.hpp"
#include "problem.hpp"

namespace olympus::auth {

// Why a token was refused. A Problem: 401 for every kind but keys_unavailable (503: the token may
// be fine, the issuer's keys cannot be had), so a caller that lets it escape answers correctly.
class TokenError : public Problem {
  public:
    enum class Kind {
        malformed,              // not three base64url segments of JSON objects
        too_large,              // longer than ValidationOptions::max_token_bytes
        unsupported_algorithm,  // `alg` not in the allowed list ("none" and HMAC never are)
        unknown_key,            // no key with that `kid`
        key_mismatch,           // the `kid` names a key of another type than `alg`
        bad_signature,          // the signature does not verify
        critical_header,        // `crit` names an extension Olympus does not implement
        wrong_type,             // `typ` is not at+jwt (RFC 9068 §4)
        expired,                // `exp` passed (beyond the leeway)
        not_yet_valid,          // `nbf` in the future (beyond the leeway)
        issued_in_future,       // `iat` in the future (beyond the leeway)
        wrong_issuer,           // `iss` is not the configured issuer
        wrong_audience,         // `aud` names none of the configured audiences
        invalid_claim,          // no exp, a claim of the wrong JSON type, or no sub nor client_id
        keys_unavailable,       // no key set could be fetched from the issuer
    };

    TokenError(Kind kind, std::string detail);
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

std::string_view to_string(TokenError::Kind kind);

struct ValidationOptions {
    // `iss` must equal this string exactly (no normalisation: RFC 9068 §4).
    std::string issuer;
    // `aud` (a string or an array) must contain at least one of these.
    std::vector<std::string> audiences;
    // Tolerated clock difference between the issuer and this host, for exp, nbf and iat.
    std::chrono::seconds leeway{60};
    // The algorithms accepted in `alg`. Services verify whatever the issuer signs with, so all three
    // by default; narrowing the list is a defence against a compromised key of another type.
    std::vector<Algorithm> algorithms{Algorithm::rs256, Algorithm::es256, Algorithm::eddsa};
    // RFC 9068 §4: an access token says `typ: at+jwt`, which stops an ID token (or any other JWT the
    // issuer signs) from being replayed as an access token.
    bool require_access_token_type = true;
    // A real access token is well under 2 KiB; the bound keeps base64 decoding, JSON parsing and
    // hashing of hostile input cheap.
    std::size_t max_token_bytes = std::size_t{8} * 1024;
};

// Throws std::invalid_argument when the issuer or audiences are missing or no algorithm is allowed.
void validate(const ValidationOptions& options);

// A compact JWS whose header passed the checks that need no key.
struct DecodedJws {
    Algorithm algorithm;
    std::string kid;                 // "" when the header has none
    std::string_view signing_input;  // "header.payload", a view into the token
    std::string signature;           // decoded bytes
    boost::json::object header;
    boost::json::object payload;  // parsed, not yet checked
};

// Splits and decodes `token` (which must outlive the result) and checks its header. Throws TokenError.
DecodedJws decode_jws(std::string_view token, const ValidationOptions& options);

// Checks the registered claims of a verified payload and builds the Claims. Throws TokenError.
Claims check_claims(boost::json::object payload, const ValidationOptions& options,
                    std::chrono::system_clock::time_point now);

// Whether claims accepted earlier are still within their validity window at `now` (exp and nbf,
// with the leeway). Throws TokenError (expired or not_yet_valid) when not. For cached tokens.
void check_lifetime(const Claims& claims, const ValidationOptions& options,
                    std::chrono::system_clock::time_point now);

// Every check, against a set of keys in memory. Throws TokenError.
Claims verify_token(std::string_view token, const KeySet& keys, const ValidationOptions& options,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The key for a decoded token, or TokenError unknown_key / key_mismatch.
std::shared_ptr<const PublicKey> select_key(const DecodedJws& jws, const KeySet& keys);

}  // namespace olympus::auth
