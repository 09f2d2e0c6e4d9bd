#pragma once

// Test support (header-only, never in the production library): keys, JWKS documents and access
// tokens produced by npm `jose`, an implementation independent of Olympus, through
// tests/node/jwt_fixtures.mjs. Generated once per test binary run.

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "auth/jwt.hpp"
#include "testing/process.hpp"

namespace olympus::auth::testing {

struct JoseTokens {
    std::int64_t now = 0;  // when the tokens were made, seconds since the epoch
    std::string issuer;
    std::string audience;
    boost::json::value jwks;          // rs-1 (RS256), es-1 (ES256), ed-1 (EdDSA)
    boost::json::value jwks_rotated;  // the same plus es-2
    boost::json::value jwks_hostile;  // unusable keys around es-1
    boost::json::object tokens;

    std::string token(std::string_view name) const {
        const auto* t = tokens.if_contains(name);
        if (!t) throw std::out_of_range("no fixture token " + std::string(name));
        return std::string(t->as_string());
    }

    ValidationOptions options() const {
        ValidationOptions o;
        o.issuer = issuer;
        o.audiences = {audience};
        return o;
    }
};

inline JoseTokens make_jose_tokens() {
    const std::filesystem::path node_dir = std::filesystem::path(OLYMPUS_SOURCE_DIR) / "tests" / "node";
    if (!std::filesystem::exists(node_dir / "node_modules" / "jose")) {
        throw std::runtime_error("npm test tools missing: " + (node_dir / "node_modules").string() +
                                 " has no jose; run scripts/bootstrap (it runs npm ci in tests/node)");
    }
    olympus::testing::TempDir dir;
    const auto out = dir.file("tokens.json");
    olympus::testing::run_command({"/usr/bin/node", (node_dir / "jwt_fixtures.mjs").string(), out},
                                  dir.path());
    auto doc = boost::json::parse(olympus::testing::read_file(out)).as_object();
    JoseTokens t;
    t.now = doc.at("now").to_number<std::int64_t>();
    t.issuer = doc.at("issuer").as_string();
    t.audience = doc.at("audience").as_string();
    t.jwks = doc.at("jwks");
    t.jwks_rotated = doc.at("jwks_rotated");
    t.jwks_hostile = doc.at("jwks_hostile");
    t.tokens = doc.at("tokens").as_object();
    return t;
}

// Throws, with the reason, when node or the npm tools are missing.
inline const JoseTokens& jose_tokens() {
    static const JoseTokens tokens = make_jose_tokens();
    return tokens;
}

}  // namespace olympus::auth::testing
