#include "auth/jwk.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/json/value.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "auth/base64url.hpp"

namespace olympus::auth {
namespace {

// RFC 7518 §3.3 requires 2048 bits; the ceiling bounds the cost of one verification, which an
// attacker controls when he can get a key published.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
constexpr std::size_t kP256CoordinateBytes = 32;
constexpr std::size_t kEd25519KeyBytes = 32;
constexpr std::size_t kEs256SignatureBytes = 64;
constexpr std::size_t kEd25519SignatureBytes = 64;

struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct ParamBldFree {
    void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const { BN_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
    void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

[[noreturn]] void reject(std::string_view why) {
    throw std::invalid_argument("jwk: " + std::string(why));
}

std::string_view string_member(const boost::json::object& jwk, std::string_view name) {
    const auto* v = jwk.if_contains(name);
    if (!v) return {};
    if (!v->is_string()) reject(std::string(name) + " is not a string");
    return v->get_string();
}

std::string bytes_member(const boost::json::object& jwk, std::string_view name) {
    std::string_view text = string_member(jwk, name);
    if (text.empty()) reject("missing " + std::string(name));
    auto bytes = base64url_decode(text);
    if (!bytes) reject(std::string(name) + " is not base64url");
    return std::move(*bytes);
}

BnPtr to_bignum(const std::string& bytes) {
    BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()),
                       nullptr));
    if (!bn) throw std::bad_alloc();
    return bn;
}

// Builds a public key of `type_name` ("RSA", "EC", "ED25519") from provider parameters; `refusal`
// says why OpenSSL may refuse them.
PkeyPtr from_params(const char* type_name, OSSL_PARAM_BLD* builder, std::string_view refusal) {
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(builder));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
    if (!params || !ctx) throw std::bad_alloc();
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        reject(refusal);
    }
    return PkeyPtr(key);
}

std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> new_builder() {
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
    if (!builder) throw std::bad_alloc();
    return builder;
}

PkeyPtr rsa_key(const boost::json::object& jwk) {
    std::string n = bytes_member(jwk, "n");
    std::string e = bytes_member(jwk, "e");
    if (e.size() > 8) reject("RSA exponent too large");
    BnPtr bn_n = to_bignum(n);
    BnPtr bn_e = to_bignum(e);
    if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) reject("RSA exponent is not an odd number above 1");
    int bits = BN_num_bits(bn_n.get());
    if (bits < kMinRsaBits) reject("RSA key shorter than 2048 bits");
    if (bits > kMaxRsaBits) reject("RSA key longer than 8192 bits");
    auto builder = new_builder();
    if (OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
        throw std::bad_alloc();
    }
    return from_params("RSA", builder.get(), "OpenSSL refused the RSA key");
}

PkeyPtr ec_p256_key(const boost::json::object& jwk) {
    if (string_member(jwk, "crv") != "P-256") reject("EC curve is not P-256");
    std::string x = bytes_member(jwk, "x");
    std::string y = bytes_member(jwk, "y");
    // RFC 7518 §6.2.1.2: coordinates are the full size of the field, never shortened.
    if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes)
        reject("EC coordinates not 32 bytes");
    std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
    auto builder = new_builder();
    static constexpr char kGroup[] = "prime256v1";
    if (OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, kGroup, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
        throw std::bad_alloc();
    }
    // Points off the curve are the material of invalid-curve attacks: OpenSSL refuses them when
    // decoding the point, and the explicit check below states it rather than trusting it.
    PkeyPtr key = from_params("EC", builder.get(), "EC point is not on the P-256 curve");
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check) throw std::bad_alloc();
    if (EVP_PKEY_public_check(check.get()) != 1) reject("EC point is not on the P-256 curve");
    return key;
}

PkeyPtr ed25519_key(const boost::json::object& jwk) {
    if (string_member(jwk, "crv") != "Ed25519") reject("OKP curve is not Ed25519");
    if (jwk.contains("d")) reject("OKP key carries a private part");
    std::string x = bytes_member(jwk, "x");
    if (x.size() != kEd25519KeyBytes) reject("Ed25519 key not 32 bytes");
    auto builder = new_builder();
    if (OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, x.data(), x.size()) != 1) {
        throw std::bad_alloc();
    }
    return from_params("ED25519", builder.get(), "OpenSSL refused the Ed25519 key");
}

// JOSE's ES256 signature is r||s, 32 bytes each (RFC 7518 §3.4); OpenSSL verifies the DER
// ECDSA-Sig-Value.
std::optional<std::string> es256_der(std::string_view raw) {
    if (raw.size() != kEs256SignatureBytes) return std::nullopt;
    const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
    BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        throw std::bad_alloc();
    }
    int size = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (size <= 0) return std::nullopt;
    std::string der(static_cast<std::size_t>(size), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(sig.get(), &out) != size) return std::nullopt;
    return der;
}

}  // namespace

std::optional<Algorithm> algorithm_from_name(std::string_view name) {
    if (name == "RS256") return Algorithm::rs256;
    if (name == "ES256") return Algorithm::es256;
    if (name == "EdDSA" || name == "Ed25519") return Algorithm::eddsa;
    return std::nullopt;
}

std::string_view to_string(Algorithm algorithm) {
    switch (algorithm) {
        case Algorithm::rs256:
            return "RS256";
        case Algorithm::es256:
            return "ES256";
        case Algorithm::eddsa:
            return "EdDSA";
    }
    return "?";
}

KeyType key_type_of(Algorithm algorithm) {
    switch (algorithm) {
        case Algorithm::rs256:
            return KeyType::rsa;
        case Algorithm::es256:
            return KeyType::ec_p256;
        case Algorithm::eddsa:
            return KeyType::ed25519;
    }
    return KeyType::rsa;
}

PublicKey::PublicKey(std::string kid, KeyType type, std::optional<Algorithm> algorithm, evp_pkey_st* key)
    : kid_(std::move(kid)), type_(type), algorithm_(algorithm), key_(key) {}

PublicKey::~PublicKey() {
    EVP_PKEY_free(key_);
}

std::shared_ptr<const PublicKey> PublicKey::from_jwk(const boost::json::object& jwk) {
    std::string_view kty = string_member(jwk, "kty");
    std::string kid(string_member(jwk, "kid"));
    if (auto use = string_member(jwk, "use"); !use.empty() && use != "sig") reject("use is not \"sig\"");
    if (const auto* ops = jwk.if_contains("key_ops")) {
        if (!ops->is_array()) reject("key_ops is not an array");
        const auto& list = ops->get_array();
        if (std::find(list.begin(), list.end(), boost::json::value("verify")) == list.end()) {
            reject("key_ops lacks \"verify\"");
        }
    }

    KeyType type;
    PkeyPtr key;
    if (kty == "RSA") {
        type = KeyType::rsa;
        key = rsa_key(jwk);
    } else if (kty == "EC") {
        type = KeyType::ec_p256;
        key = ec_p256_key(jwk);
    } else if (kty == "OKP") {
        type = KeyType::ed25519;
        key = ed25519_key(jwk);
    } else {
        reject(kty.empty() ? "missing kty" : "unsupported kty " + std::string(kty));
    }

    std::optional<Algorithm> algorithm;
    if (auto alg = string_member(jwk, "alg"); !alg.empty()) {
        algorithm = algorithm_from_name(alg);
        if (!algorithm || key_type_of(*algorithm) != type)
            reject("alg " + std::string(alg) + " does not fit the key");
    }
    return std::shared_ptr<const PublicKey>(new PublicKey(std::move(kid), type, algorithm, key.release()));
}

bool PublicKey::accepts(Algorithm algorithm) const {
    return key_type_of(algorithm) == type_ && (!algorithm_ || *algorithm_ == algorithm);
}

bool PublicKey::verify(Algorithm algorithm, std::string_view signing_input,
                       std::string_view signature) const {
    if (!accepts(algorithm)) return false;
    std::optional<std::string> der;
    const char* digest = "SHA256";
    switch (algorithm) {
        case Algorithm::rs256:
            break;
        case Algorithm::es256:
            der = es256_der(signature);
            if (!der) return false;
            signature = *der;
            break;
        case Algorithm::eddsa:
            if (signature.size() != kEd25519SignatureBytes) return false;
            digest = nullptr;  // Ed25519 hashes internally (PureEdDSA)
            break;
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx) throw std::bad_alloc();
    if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key_, nullptr) != 1)
        return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                            signing_input.size()) == 1;
}

KeySet KeySet::from_jwks(const boost::json::value& jwks, std::vector<Skipped>* skipped) {
    const auto* doc = jwks.if_object();
    const auto* keys = doc ? doc->if_contains("keys") : nullptr;
    if (!keys || !keys->is_array()) throw std::invalid_argument("jwks: not an object with a \"keys\" array");
    KeySet set;
    for (const auto& entry : keys->get_array()) {
        std::string kid;
        try {
            if (!entry.is_object()) throw std::invalid_argument("jwk: not an object");
            if (const auto* k = entry.get_object().if_contains("kid"); k && k->is_string())
                kid = k->get_string();
            set.add(PublicKey::from_jwk(entry.get_object()));
        } catch (const std::invalid_argument& e) {
            if (skipped) skipped->push_back({std::move(kid), e.what()});
        }
    }
    return set;
}

void KeySet::add(std::shared_ptr<const PublicKey> key) {
    keys_.push_back(std::move(key));
}

std::shared_ptr<const PublicKey> KeySet::find(std::string_view kid, Algorithm algorithm) const {
    if (kid.empty()) {
        std::shared_ptr<const PublicKey> only;
        for (const auto& key : keys_) {
            if (!key->accepts(algorithm)) continue;
            if (only) return nullptr;  // ambiguous: which key was meant is unknowable
            only = key;
        }
        return only;
    }
    for (const auto& key : keys_) {
        if (key->kid() == kid && key->accepts(algorithm)) return key;
    }
    return nullptr;
}

bool KeySet::contains(std::string_view kid) const {
    return std::any_of(keys_.begin(), keys_.end(), [&](const auto& key) { return key->kid() == kid; });
}

}  // namespace olympus::auth
