#include "tls/context.hpp"

#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace olympus::tls {

namespace asio = boost::asio;

namespace {

[[noreturn]] void fail(std::string_view what, const std::string& path, const std::string& why) {
    throw std::runtime_error("tls: cannot load " + std::string(what) + " '" + path + "': " + why);
}

void require_readable(std::string_view what, const std::string& path) {
    if (path.empty()) fail(what, path, "no file configured");
    std::ifstream in(path);
    if (!in) fail(what, path, std::strerror(errno));
}

// Picks "http/1.1" from the client's ALPN list. A client that offers ALPN without http/1.1 (only
// "h2", say) cannot talk to this server, so the handshake fails as RFC 7301 §3.2 asks.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) {
    static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::string openssl_errors() {
    std::string out;
    while (unsigned long code = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        if (!out.empty()) out += "; ";
        out += text;
    }
    return out.empty() ? std::string("unknown OpenSSL error") : out;
}

std::shared_ptr<asio::ssl::context> make_server_context(const http::TlsFiles& files) {
    require_readable("certificate chain", files.certificate_chain);
    require_readable("private key", files.private_key);

    auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* ctx = context->native_handle();
    ERR_clear_error();

    // TLS 1.0 and 1.1 are deprecated (RFC 8996).
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, 0) != 1) {
        throw std::runtime_error("tls: cannot set protocol versions: " + openssl_errors());
    }
    // Compression invites CRIME; client-initiated renegotiation is a denial-of-service lever and
    // HTTP/1.1 never needs it. The server's cipher order wins so that AEAD suites are chosen.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 |
                                 SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
    if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
        throw std::runtime_error("tls: cannot set TLS 1.2 ciphers: " + openssl_errors());
    }
    if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
        throw std::runtime_error("tls: cannot set key exchange groups: " + openssl_errors());
    }
    // Idle keep-alive connections give their read and write buffers back to the allocator.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // Session resumption (tickets and the server cache) saves a full handshake on reconnects.
    static constexpr unsigned char kSessionContext[] = "olympus";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);

    if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate_chain.c_str()) != 1) {
        fail("certificate chain", files.certificate_chain, openssl_errors());
    }
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(nullptr, EVP_PKEY_free);
    if (std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(files.private_key.c_str(), "r"), BIO_free);
        bio) {
        key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    }
    if (!key) fail("private key", files.private_key, openssl_errors());
    // Loading the key checks it against the certificate: the one failure left is a mismatch.
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        fail("private key", files.private_key,
             "it does not match the certificate in '" + files.certificate_chain + "': " + openssl_errors());
    }
    return context;
}

}  // namespace olympus::tls
