#include "auth/jwt.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "auth/base64url.hpp"
#include "http/message.hpp"

namespace olympus::auth {
namespace {

using Kind = TokenError::Kind;
using Clock = std::chrono::system_clock;

// NumericDate bounds (RFC 7519 §2): years 0001..9999 keep sums with the leeway far from overflow
// and make absurd values a clear error instead of a silent wrap.
constexpr double kMinNumericDate = -62135596800.0;
constexpr double kMaxNumericDate = 253402300799.0;

[[noreturn]] void fail(Kind kind, std::string detail) {
    throw TokenError(kind, std::move(detail));
}

boost::json::object decode_object(std::string_view segment, std::string_view what) {
    auto bytes = base64url_decode(segment);
    if (!bytes) fail(Kind::malformed, std::string(what) + " is not base64url");
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(*bytes, ec);
    if (ec || !value.is_object()) fail(Kind::malformed, std::string(what) + " is not a JSON object");
    return std::move(value.get_object());
}

// A string member; nothing when absent; TokenError when present with another JSON type.
const boost::json::string* string_claim(const boost::json::object& o, std::string_view name, Kind kind) {
    const auto* v = o.if_contains(name);
    if (!v) return nullptr;
    if (!v->is_string()) fail(kind, std::string(name) + " is not a string");
    return &v->get_string();
}

std::optional<std::chrono::sys_seconds> numeric_date(const boost::json::object& o, std::string_view name) {
    const auto* v = o.if_contains(name);
    if (!v) return std::nullopt;
    double seconds;
    if (v->is_int64()) {
        seconds = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
        seconds = static_cast<double>(v->get_uint64());
    } else if (v->is_double()) {
        seconds = std::floor(v->get_double());
    } else {
        fail(Kind::invalid_claim, std::string(name) + " is not a number");
    }
    if (!(seconds >= kMinNumericDate && seconds <= kMaxNumericDate)) {
        fail(Kind::invalid_claim, std::string(name) + " is out of range");
    }
    return std::chrono::sys_seconds(std::chrono::seconds(static_cast<std::int64_t>(seconds)));
}

bool audience_matches(const boost::json::value& aud, const std::vector<std::string>& accepted) {
    auto ok = [&](const boost::json::value& v) {
        if (!v.is_string()) fail(Kind::invalid_claim, "aud holds a value that is not a string");
        return std::find(accepted.begin(), accepted.end(), std::string_view(v.get_string())) !=
               accepted.end();
    };
    if (aud.is_string()) return ok(aud);
    if (!aud.is_array()) fail(Kind::invalid_claim, "aud is neither a string nor an array");
    bool found = false;
    for (const auto& v : aud.get_array()) found = ok(v) || found;
    return found;
}

}  // namespace

TokenError::TokenError(Kind kind, std::string detail)
    : Problem(kind == Kind::keys_unavailable ? 503 : 401,
              kind == Kind::keys_unavailable ? "Service Unavailable" : "Unauthorized", std::move(detail)),
      kind_(kind) {}

std::string_view to_string(TokenError::Kind kind) {
    switch (kind) {
        case Kind::malformed:
            return "malformed";
        case Kind::too_large:
            return "too_large";
        case Kind::unsupported_algorithm:
            return "unsupported_algorithm";
        case Kind::unknown_key:
            return "unknown_key";
        case Kind::key_mismatch:
            return "key_mismatch";
        case Kind::bad_signature:
            return "bad_signature";
        case Kind::critical_header:
            return "critical_header";
        case Kind::wrong_type:
            return "wrong_type";
        case Kind::expired:
            return "expired";
        case Kind::not_yet_valid:
            return "not_yet_valid";
        case Kind::issued_in_future:
            return "issued_in_future";
        case Kind::wrong_issuer:
            return "wrong_issuer";
        case Kind::wrong_audience:
            return "wrong_audience";
        case Kind::invalid_claim:
            return "invalid_claim";
        case Kind::keys_unavailable:
            return "keys_unavailable";
    }
    return "?";
}

void validate(const ValidationOptions& options) {
    if (options.issuer.empty()) throw std::invalid_argument("token validation: no issuer configured");
    if (options.audiences.empty() || std::any_of(options.audiences.begin(), options.audiences.end(),
                                                 [](const auto& a) { return a.empty(); })) {
        throw std::invalid_argument("token validation: no audience configured");
    }
    if (options.algorithms.empty()) throw std::invalid_argument("token validation: no algorithm allowed");
    if (options.leeway.count() < 0) throw std::invalid_argument("token validation: negative leeway");
}

DecodedJws decode_jws(std::string_view token, const ValidationOptions& options) {
    if (token.size() > options.max_token_bytes) fail(Kind::too_large, "token exceeds the size limit");
    auto first = token.find('.');
    auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        fail(Kind::malformed, "token is not three dot-separated segments");
    }

    boost::json::object header = decode_object(token.substr(0, first), "header");
    boost::json::object payload = decode_object(token.substr(first + 1, second - first - 1), "payload");
    auto signature = base64url_decode(token.substr(second + 1));
    if (!signature) fail(Kind::malformed, "signature is not base64url");

    const auto* alg = string_claim(header, "alg", Kind::malformed);
    if (!alg) fail(Kind::malformed, "header has no alg");
    auto algorithm = algorithm_from_name(*alg);
    if (!algorithm || std::find(options.algorithms.begin(), options.algorithms.end(), *algorithm) ==
                          options.algorithms.end()) {
        fail(Kind::unsupported_algorithm, "alg is not an accepted algorithm");
    }
    // RFC 7515 §4.1.11: a recipient that does not understand every extension listed in `crit` must
    // refuse the token. Olympus implements none (b64=false of RFC 7797 included).
    if (header.contains("crit")) fail(Kind::critical_header, "header lists critical extensions");
    if (const auto* b64 = header.if_contains("b64"); b64 && *b64 != boost::json::value(true)) {
        fail(Kind::critical_header, "unencoded payloads are not supported");
    }
    if (options.require_access_token_type) {
        const auto* typ = string_claim(header, "typ", Kind::wrong_type);
        if (!typ || !(http::iequals(*typ, "at+jwt") || http::iequals(*typ, "application/at+jwt"))) {
            fail(Kind::wrong_type, "typ is not at+jwt");
        }
    }
    // jku, jwk, x5u and x5c are never followed: keys come only from the configured key set.
    const auto* kid = string_claim(header, "kid", Kind::malformed);

    DecodedJws jws{*algorithm,
                   kid ? std::string(*kid) : std::string(),
                   token.substr(0, second),
                   std::move(*signature),
                   std::move(header),
                   std::move(payload)};
    return jws;
}

Claims check_claims(boost::json::object payload, const ValidationOptions& options, Clock::time_point now) {
    Claims claims;
    const auto* iss = string_claim(payload, "iss", Kind::invalid_claim);
    if (!iss || *iss != options.issuer) fail(Kind::wrong_issuer, "iss is not the expected issuer");
    claims.issuer = *iss;

    const auto* aud = payload.if_contains("aud");
    if (!aud || !audience_matches(*aud, options.audiences))
        fail(Kind::wrong_audience, "aud does not name this service");

    auto exp = numeric_date(payload, "exp");
    if (!exp) fail(Kind::invalid_claim, "exp is required");
    claims.expires_at = *exp;
    claims.not_before = numeric_date(payload, "nbf");
    claims.issued_at = numeric_date(payload, "iat");
    check_lifetime(claims, options, now);
    if (claims.issued_at && *claims.issued_at > now + options.leeway) {
        fail(Kind::issued_in_future, "iat is in the future");
    }

    if (const auto* sub = string_claim(payload, "sub", Kind::invalid_claim)) claims.subject = *sub;
    if (const auto* client = string_claim(payload, "client_id", Kind::invalid_claim))
        claims.client_id = *client;
    if (claims.subject.empty() && claims.client_id.empty())
        fail(Kind::invalid_claim, "token has no sub nor client_id");
    if (const auto* jti = string_claim(payload, "jti", Kind::invalid_claim)) claims.token_id = *jti;
    if (const auto* scope = string_claim(payload, "scope", Kind::invalid_claim))
        claims.scopes = split_scopes(*scope);

    claims.payload = std::move(payload);
    return claims;
}

void check_lifetime(const Claims& claims, const ValidationOptions& options, Clock::time_point now) {
    if (now >= claims.expires_at + options.leeway) fail(Kind::expired, "token has expired");
    if (claims.not_before && *claims.not_before > now + options.leeway) {
        fail(Kind::not_yet_valid, "token is not valid yet");
    }
}

std::shared_ptr<const PublicKey> select_key(const DecodedJws& jws, const KeySet& keys) {
    if (auto key = keys.find(jws.kid, jws.algorithm)) return key;
    if (!jws.kid.empty() && keys.contains(jws.kid))
        fail(Kind::key_mismatch, "alg does not fit the key named by kid");
    fail(Kind::unknown_key, jws.kid.empty() ? "token names no key" : "kid names no known key");
}

Claims verify_token(std::string_view token, const KeySet& keys, const ValidationOptions& options,
                    Clock::time_point now) {
    DecodedJws jws = decode_jws(token, options);
    auto key = select_key(jws, keys);
    if (!key->verify(jws.algorithm, jws.signing_input, jws.signature))
        fail(Kind::bad_signature, "signature is invalid");
    return check_claims(std::move(jws.payload), options, now);
}

}  // namespace olympus::auth
