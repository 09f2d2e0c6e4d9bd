#pragma once

// The self-signed development certificate of the all-in-one shape: a local CA and a localhost
// certificate it signed, made once into a directory and reused while they stay valid. Clients
// (curl --cacert, browsers, tests) trust the CA file, never the leaf.

#include <string>

#include "http/server.hpp"

namespace olympus::tls {

struct DevCertificate {
    http::TlsFiles files;  // dev-cert.pem and dev-key.pem, for ServerOptions::tls
    std::string ca_file;   // dev-ca.pem, for clients to verify the server with
};

// Returns dir/dev-ca.pem, dir/dev-cert.pem and dir/dev-key.pem when they exist, belong together and
// the certificate stays valid for at least 30 more days; otherwise makes new ones: a CA (EC P-256,
// 10 years, CN "Olympus Development CA") and a server certificate it signs (EC P-256, 825 days,
// SAN DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth). Creates `dir` when missing; private keys
// are written with mode 0600. Safe against concurrent callers on the same directory (a lock file).
// Throws std::runtime_error on a failure to read, generate or write.
DevCertificate ensure_dev_certificate(const std::string& dir);

}  // namespace olympus::tls
