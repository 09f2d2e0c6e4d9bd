#pragma once

// Public keys from JSON Web Keys (RFC 7517) and the JWS algorithms Olympus verifies with them
// (RFC 7518, RFC 8037). Each algorithm belongs to exactly one key type, and a key verifies only
// with an algorithm of its own type: the token's `alg` can never make an RSA public key act as an
// HMAC secret (algorithm confusion). OpenSSL types stay in the .cpp file.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace olympus::auth {

enum class Algorithm : std::uint8_t {
    rs256,  // RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 bits or more
    es256,  // ECDSA P-256 with SHA-256, signature as JOSE's fixed-size r||s
    eddsa,  // Ed25519 ("EdDSA" of RFC 8037, or the fully specified "Ed25519")
};

enum class KeyType : std::uint8_t { rsa, ec_p256, ed25519 };

// The algorithm of a JWS `alg` name (case-sensitive, RFC 7515 §4.1.1); nothing for any other,
// "none" and the HMAC family included.
std::optional<Algorithm> algorithm_from_name(std::string_view name);
std::string_view to_string(Algorithm algorithm);  // "RS256", "ES256", "EdDSA"
KeyType key_type_of(Algorithm algorithm);

class PublicKey {
  public:
    // Builds a verification key from a JWK: kty RSA (n, e), EC with crv P-256 (x, y) or OKP with
    // crv Ed25519 (x). Throws std::invalid_argument naming the problem for other key types, a
    // `use` other than "sig", `key_ops` without "verify", an `alg` member of another family,
    // malformed members, RSA moduli outside 2048..8192 bits and EC points not on the curve.
    static std::shared_ptr<const PublicKey> from_jwk(const boost::json::object& jwk);

    ~PublicKey();
    PublicKey(const PublicKey&) = delete;
    PublicKey& operator=(const PublicKey&) = delete;

    const std::string& kid() const { return kid_; }
    KeyType type() const { return type_; }
    // Whether a token signed with `algorithm` may be checked with this key: same key type, and the
    // same algorithm as the JWK's own `alg` member when it has one.
    bool accepts(Algorithm algorithm) const;

    // Checks a JWS signature (RFC 7515 §5.2) over the ASCII signing input "header.payload".
    // Returns false for a wrong signature, one of the wrong size, or an algorithm this key does not
    // accept. Safe to call from several threads at once.
    bool verify(Algorithm algorithm, std::string_view signing_input, std::string_view signature) const;

  private:
    PublicKey(std::string kid, KeyType type, std::optional<Algorithm> algorithm, evp_pkey_st* key);

    std::string kid_;
    KeyType type_;
    std::optional<Algorithm> algorithm_;  // the JWK's `alg`, when given
    evp_pkey_st* key_;                    // owned
};

// The verification keys of one issuer, as published in its JWKS (RFC 7517 §5). Immutable once
// built; the JWKS client swaps whole sets.
class KeySet {
  public:
    struct Skipped {
        std::string kid;
        std::string reason;
    };

    KeySet() = default;
    // Keys that cannot verify Olympus tokens (other key types, encryption keys, weak or malformed
    // keys) are left out and listed in `skipped`, so that one odd key does not hide the others.
    // Throws std::invalid_argument when `jwks` is not an object with a "keys" array.
    static KeySet from_jwks(const boost::json::value& jwks, std::vector<Skipped>* skipped = nullptr);

    void add(std::shared_ptr<const PublicKey> key);

    // The key named `kid` that accepts `algorithm`. A token without a kid is matched only when
    // exactly one key of the set accepts its algorithm.
    std::shared_ptr<const PublicKey> find(std::string_view kid, Algorithm algorithm) const;
    // Whether any key has that kid, whatever its type: tells an unknown key (worth a JWKS refetch)
    // from a known key used with the wrong algorithm (an attack, never a reason to refetch).
    bool contains(std::string_view kid) const;

    std::size_t size() const { return keys_.size(); }
    bool empty() const { return keys_.empty(); }
    const std::vector<std::shared_ptr<const PublicKey>>& keys() const { return keys_; }

  private:
    std::vector<std::shared_ptr<const PublicKey>> keys_;
};

}  // namespace olympus::auth
