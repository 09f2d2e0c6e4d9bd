#pragma once

// The server-side TLS configuration shared by every listener: TLS 1.2 and 1.3 only, forward-secret
// AEAD cipher suites, no compression, no renegotiation, ALPN "http/1.1". Asio's SSL types stay out
// of this header; only the servers' .cpp files need the full definition of the context.

#include <memory>
#include <string>

#include "http/server.hpp"

namespace boost::asio::ssl {
class context;
}

namespace olympus::tls {

// The cipher suites offered on TLS 1.2: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only
// (no CBC, no static RSA, no finite-field DHE). TLS 1.3 uses OpenSSL's defaults, all of them AEAD.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Loads the PEM certificate chain and private key of `files`. Throws std::runtime_error naming the
// file and OpenSSL's reason when a file is missing, unreadable or not PEM, or when the key does not
// belong to the certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_context(const http::TlsFiles& files);

// OpenSSL's error queue as one line, oldest first; clears the queue.
std::string openssl_errors();

}  // namespace olympus::tls
