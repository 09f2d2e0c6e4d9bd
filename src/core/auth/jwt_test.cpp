#include "auth/jwt.hpp"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "auth/base64url.hpp"
#include "auth/test_tokens.hpp"

namespace olympus::auth {
namespace {

using Kind = TokenError::Kind;
using testing::jose_tokens;
using Clock = std::chrono::system_clock;

Clock::time_point at(std::int64_t seconds) {
    return Clock::time_point(std::chrono::seconds(seconds));
}

KeySet published_keys() {
    return KeySet::from_jwks(jose_tokens().jwks);
}

// The kind of TokenError verifying `token` throws, or nothing when it is accepted.
std::optional<Kind> refusal(const std::string& token, const KeySet& keys, const ValidationOptions& options,
                            Clock::time_point now) {
    try {
        verify_token(token, keys, options, now);
        return std::nullopt;
    } catch (const TokenError& e) {
        return e.kind();
    }
}

TEST(Base64url, RoundTripsEveryLength) {
    std::string bytes;
    for (int i = 0; i < 40; ++i) {
        auto encoded = base64url_encode(bytes);
        EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
        EXPECT_EQ(base64url_decode(encoded), bytes);
        bytes += static_cast<char>(0xf0 + i % 16);
    }
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64url, RefusesPaddingStandardAlphabetWhitespaceAndLooseBits) {
    EXPECT_EQ(base64url_decode("YQ"), "a");
    EXPECT_FALSE(base64url_decode("YQ=="));
    EXPECT_FALSE(base64url_decode("YQ="));
    EXPECT_FALSE(base64url_decode("+_8"));
    EXPECT_FALSE(base64url_decode("-/8"));
    EXPECT_FALSE(base64url_decode("Y Q"));
    EXPECT_FALSE(base64url_decode("YQ\n"));
    EXPECT_FALSE(base64url_decode("Y"));    // one character cannot end a byte
    EXPECT_FALSE(base64url_decode("YR"));   // non-zero trailing bits: a second encoding of "a"
    EXPECT_FALSE(base64url_decode("YWJ"));  // of "ab" (canonical: YWI)
    EXPECT_EQ(base64url_decode("YWI"), "ab");
    EXPECT_FALSE(base64url_decode(std::string_view("YQ\0", 3)));
}

TEST(Jwt, AcceptsTokensSignedByJoseWithEachAlgorithm) {
    const auto& fx = jose_tokens();
    auto keys = published_keys();
    ASSERT_EQ(keys.size(), 3u);
    for (const char* name : {"valid_rs256", "valid_es256", "valid_eddsa", "valid_ed25519_alg"}) {
        SCOPED_TRACE(name);
        Claims claims = verify_token(fx.token(name), keys, fx.options(), at(fx.now));
        EXPECT_EQ(claims.issuer, fx.issuer);
        EXPECT_EQ(claims.subject, "user-42");
        EXPECT_EQ(claims.client_id, "web-app");
        EXPECT_EQ(claims.principal(), "user-42");
        EXPECT_EQ(claims.scopes, (std::vector<std::string>{"orders:read", "orders:write"}));
        EXPECT_EQ(claims.expires_at.time_since_epoch().count(), fx.now + 600);
        EXPECT_EQ(claims.issued_at->time_since_epoch().count(), fx.now);
        EXPECT_FALSE(claims.token_id.empty());
        EXPECT_EQ(claims.payload.at("sub"), "user-42");
    }
}

TEST(Jwt, AcceptsAudienceArraysMediaTypeTypAndTokensWithoutKid) {
    const auto& fx = jose_tokens();
    auto keys = published_keys();
    for (const char* name : {"valid_aud_array", "valid_typ_media_type", "valid_no_kid", "valid_no_scope"}) {
        SCOPED_TRACE(name);
        EXPECT_EQ(refusal(fx.token(name), keys, fx.options(), at(fx.now)), std::nullopt);
    }
    EXPECT_TRUE(verify_token(fx.token("valid_no_scope"), keys, fx.options(), at(fx.now)).scopes.empty());
}

TEST(Jwt, ClientCredentialsTokenActsAsItsClient) {
    const auto& fx = jose_tokens();
    Claims claims =
        verify_token(fx.token("valid_client_credentials"), published_keys(), fx.options(), at(fx.now));
    EXPECT_TRUE(claims.subject.empty());
    EXPECT_EQ(claims.principal(), "hermes");
}

TEST(Jwt, AppliesTheLeewayToExpNbfAndIat) {
    const auto& fx = jose_tokens();
    auto keys = published_keys();
    auto options = fx.options();
    EXPECT_EQ(refusal(fx.token("valid_expired_within_leeway"), keys, options, at(fx.now)), std::nullopt);
    EXPECT_EQ(refusal(fx.token("valid_nbf_within_leeway"), keys, options, at(fx.now)), std::nullopt);
    options.leeway = std::chrono::seconds(0);
    EXPECT_EQ(refusal(fx.token("valid_expired_within_leeway"), keys, options, at(fx.now)), Kind::expired);
    EXPECT_EQ(refusal(fx.token("valid_nbf_within_leeway"), keys, options, at(fx.now)), Kind::not_yet_valid);
    // exp is exclusive: valid strictly before exp + leeway.
    options.leeway = std::chrono::seconds(60);
    EXPECT_EQ(refusal(fx.token("valid_es256"), keys, options, at(fx.now + 600 + 59)), std::nullopt);
    EXPECT_EQ(refusal(fx.token("valid_es256"), keys, options, at(fx.now + 600 + 60)), Kind::expired);
    EXPECT_EQ(refusal(fx.token("valid_es256"), keys, options, at(fx.now - 61)), Kind::issued_in_future);
}

TEST(Jwt, RefusesHostileAndInvalidTokensForTheRightReason) {
    const auto& fx = jose_tokens();
    auto keys = published_keys();
    const std::vector<std::pair<const char*, Kind>> cases = {
        {"expired", Kind::expired},
        {"nbf_in_future", Kind::not_yet_valid},
        {"iat_in_future", Kind::issued_in_future},
        {"wrong_issuer", Kind::wrong_issuer},
        {"issuer_with_trailing_slash", Kind::wrong_issuer},
        {"wrong_audience", Kind::wrong_audience},
        {"wrong_audience_array", Kind::wrong_audience},
        {"missing_exp", Kind::invalid_claim},
        {"exp_as_string", Kind::invalid_claim},
        {"missing_subject", Kind::invalid_claim},
        {"scope_not_string", Kind::invalid_claim},
        {"wrong_typ", Kind::wrong_type},
        {"missing_typ", Kind::wrong_type},
        {"alg_none", Kind::unsupported_algorithm},
        {"alg_none_uppercase", Kind::unsupported_algorithm},
        {"hs256_with_rsa_public_key", Kind::unsupported_algorithm},
        {"es256_with_rsa_kid", Kind::key_mismatch},
        {"rs256_with_ec_kid", Kind::key_mismatch},
        {"unknown_kid", Kind::unknown_key},
        {"signed_by_stranger", Kind::bad_signature},
        {"unknown_crit", Kind::critical_header},
        {"b64_false", Kind::critical_header},
        {"tampered_payload", Kind::bad_signature},
        {"tampered_signature", Kind::bad_signature},
        {"truncated_signature", Kind::bad_signature},
        {"es256_der_signature", Kind::bad_signature},
        {"padded_base64", Kind::malformed},
        {"standard_base64_chars", Kind::malformed},
        {"invalid_base64_char", Kind::malformed},
        {"whitespace_inside", Kind::malformed},
        {"four_segments", Kind::malformed},
        {"two_segments", Kind::malformed},
        {"oversized", Kind::too_large},
        {"payload_not_object", Kind::malformed},
        {"payload_not_json", Kind::malformed},
        {"rsa_1024_bit_key", Kind::unknown_key},
    };
    for (const auto& [name, kind] : cases) {
        SCOPED_TRACE(name);
        EXPECT_EQ(refusal(fx.token(name), keys, fx.options(), at(fx.now)), kind);
    }
}

TEST(Jwt, RefusesMalformedInputWithoutCrashing) {
    const auto& fx = jose_tokens();
    auto keys = published_keys();
    const std::string header = base64url_encode(R"({"alg":"ES256","typ":"at+jwt","kid":"es-1"})");
    const std::string payload = base64url_encode(R"({"iss":"x"})");
    const std::vector<std::string> inputs = {
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        header + "..",
        "." + payload + ".",
        base64url_encode("[]") + "." + payload + ".",
        base64url_encode(R"({"alg":7})") + "." + payload + ".",
        base64url_encode(R"({"typ":"at+jwt"})") + "." + payload + ".",
        base64url_encode(R"({"alg":"ES256","typ":"at+jwt","kid":{}})") + "." + payload + ".",
        base64url_encode(std::string(40, '{')) + "." + payload + ".",
        base64url_encode("{\"alg\":\"ES256\"\xff}") + "." + payload + ".",
        std::string(fx.options().max_token_bytes + 1, 'a'),
    };
    for (const auto& input : inputs) {
        SCOPED_TRACE(input.substr(0, 80));
        auto kind = refusal(input, keys, fx.options(), at(fx.now));
        ASSERT_TRUE(kind.has_value());
        EXPECT_TRUE(*kind == Kind::malformed || *kind == Kind::too_large ||
                    *kind == Kind::unsupported_algorithm);
    }
    EXPECT_EQ(refusal(header + "." + payload + ".AAAA", keys, fx.options(), at(fx.now)), Kind::bad_signature);
}

TEST(Jwt, AlgorithmListCanBeNarrowed) {
    const auto& fx = jose_tokens();
    auto options = fx.options();
    options.algorithms = {Algorithm::es256};
    auto keys = published_keys();
    EXPECT_EQ(refusal(fx.token("valid_es256"), keys, options, at(fx.now)), std::nullopt);
    EXPECT_EQ(refusal(fx.token("valid_rs256"), keys, options, at(fx.now)), Kind::unsupported_algorithm);
    EXPECT_EQ(refusal(fx.token("valid_eddsa"), keys, options, at(fx.now)), Kind::unsupported_algorithm);
}

TEST(Jwt, TypCheckCanBeLeftToTheCaller) {
    const auto& fx = jose_tokens();
    auto options = fx.options();
    options.require_access_token_type = false;
    EXPECT_EQ(refusal(fx.token("missing_typ"), published_keys(), options, at(fx.now)), std::nullopt);
    EXPECT_EQ(refusal(fx.token("wrong_typ"), published_keys(), options, at(fx.now)), std::nullopt);
}

TEST(Jwt, AnotherAcceptedAudienceIsEnough) {
    const auto& fx = jose_tokens();
    auto options = fx.options();
    options.audiences = {"billing-not-here", "hermes"};
    EXPECT_EQ(refusal(fx.token("wrong_audience_array"), published_keys(), options, at(fx.now)), std::nullopt);
    EXPECT_EQ(refusal(fx.token("valid_es256"), published_keys(), options, at(fx.now)), Kind::wrong_audience);
}

TEST(Jwt, ErrorsAreProblems401ExceptUnavailableKeys) {
    EXPECT_EQ(TokenError(Kind::expired, "x").status(), 401);
    EXPECT_EQ(TokenError(Kind::bad_signature, "x").status(), 401);
    EXPECT_EQ(TokenError(Kind::keys_unavailable, "x").status(), 503);
}

TEST(Jwt, ValidateRefusesIncompleteOptions) {
    ValidationOptions options;
    EXPECT_THROW(validate(options), std::invalid_argument);
    options.issuer = "https://zeus";
    EXPECT_THROW(validate(options), std::invalid_argument);
    options.audiences = {"api"};
    EXPECT_NO_THROW(validate(options));
    options.algorithms.clear();
    EXPECT_THROW(validate(options), std::invalid_argument);
}

TEST(Jwk, SkipsUnusableKeysOfAHostileJwksAndKeepsTheGoodOne) {
    const auto& fx = jose_tokens();
    std::vector<KeySet::Skipped> skipped;
    auto keys = KeySet::from_jwks(fx.jwks_hostile, &skipped);
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys.keys().front()->kid(), "es-1");
    ASSERT_EQ(skipped.size(), 5u);
    std::vector<std::string> kids;
    for (const auto& s : skipped) kids.push_back(s.kid);
    EXPECT_EQ(kids, (std::vector<std::string>{"rs-weak", "es-enc", "ml-dsa", "hmac", "es-off-curve"}));
    EXPECT_NE(skipped[0].reason.find("2048"), std::string::npos) << skipped[0].reason;
    EXPECT_NE(skipped[4].reason.find("curve"), std::string::npos) << skipped[4].reason;
    EXPECT_EQ(refusal(fx.token("valid_es256"), keys, fx.options(), at(fx.now)), std::nullopt);
}

TEST(Jwk, RefusesAJwksThatIsNotAKeyList) {
    EXPECT_THROW(KeySet::from_jwks(boost::json::parse(R"([])")), std::invalid_argument);
    EXPECT_THROW(KeySet::from_jwks(boost::json::parse(R"({"keys":{}})")), std::invalid_argument);
    EXPECT_TRUE(KeySet::from_jwks(boost::json::parse(R"({"keys":[]})")).empty());
}

TEST(Jwk, KeyBoundToOneAlgorithmRefusesTheOtherAlgorithmOfItsFamily) {
    auto jwk = jose_tokens().jwks.at("keys").at(2).as_object();  // ed-1, alg EdDSA
    EXPECT_TRUE(PublicKey::from_jwk(jwk)->accepts(Algorithm::eddsa));
    jwk["alg"] = "ES256";
    EXPECT_THROW(PublicKey::from_jwk(jwk), std::invalid_argument);
    jwk.erase("alg");
    jwk["key_ops"] = boost::json::array{"encrypt"};
    EXPECT_THROW(PublicKey::from_jwk(jwk), std::invalid_argument);
}

TEST(Jwk, TokenWithoutKidIsRefusedWhenSeveralKeysCouldMatch) {
    const auto& fx = jose_tokens();
    auto keys = KeySet::from_jwks(fx.jwks_rotated);  // es-1 and es-2
    EXPECT_EQ(refusal(fx.token("valid_no_kid"), keys, fx.options(), at(fx.now)), Kind::unknown_key);
}

TEST(Claims, ScopeHelperNeedsEveryScope) {
    Claims claims;
    claims.scopes = split_scopes("  orders:read   admin ");
    EXPECT_EQ(claims.scopes, (std::vector<std::string>{"orders:read", "admin"}));
    EXPECT_TRUE(has_scopes(claims, {}));
    EXPECT_TRUE(has_scopes(claims, {"admin"}));
    EXPECT_TRUE(has_scopes(claims, {"orders:read", "admin"}));
    EXPECT_FALSE(has_scopes(claims, {"orders:read", "orders:write"}));
    EXPECT_FALSE(has_scopes(claims, {"orders"}));
}

}  // namespace
}  // namespace olympus::auth
