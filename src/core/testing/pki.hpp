#pragma once

// A throw-away PKI for TLS tests, made with the openssl CLI: a CA and leaf certificates it signs
// (EC P-256, valid for one day), each with the SANs the test asks for.

#include <filesystem>
#include <string>

#include "http/server.hpp"
#include "testing/process.hpp"

namespace olympus::testing {

struct TestCa {
    std::string certificate;  // PEM file
    std::string key;          // PEM file
};

// Makes dir/<name>-ca.pem and dir/<name>-ca.key.
inline TestCa make_test_ca(const std::filesystem::path& dir, const std::string& name) {
    TestCa ca{(dir / (name + "-ca.pem")).string(), (dir / (name + "-ca.key")).string()};
    run_command({"/usr/bin/openssl",
                 "req",
                 "-x509",
                 "-newkey",
                 "ec",
                 "-pkeyopt",
                 "ec_paramgen_curve:P-256",
                 "-nodes",
                 "-keyout",
                 ca.key,
                 "-out",
                 ca.certificate,
                 "-days",
                 "1",
                 "-subj",
                 "/CN=Olympus Test CA " + name,
                 "-addext",
                 "basicConstraints=critical,CA:TRUE",
                 "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign"},
                dir);
    return ca;
}

// Makes dir/<name>.pem and dir/<name>.key, signed by `ca`, with `subject_alt_names` such as
// "DNS:localhost,IP:127.0.0.1"; usable for both server and client authentication.
inline http::TlsFiles issue_test_certificate(const TestCa& ca, const std::filesystem::path& dir,
                                             const std::string& name, const std::string& common_name,
                                             const std::string& subject_alt_names) {
    http::TlsFiles files{(dir / (name + ".pem")).string(), (dir / (name + ".key")).string()};
    run_command({"/usr/bin/openssl",
                 "req",
                 "-x509",
                 "-newkey",
                 "ec",
                 "-pkeyopt",
                 "ec_paramgen_curve:P-256",
                 "-nodes",
                 "-keyout",
                 files.private_key,
                 "-out",
                 files.certificate_chain,
                 "-days",
                 "1",
                 "-subj",
                 "/CN=" + common_name,
                 "-CA",
                 ca.certificate,
                 "-CAkey",
                 ca.key,
                 "-addext",
                 "subjectAltName=" + subject_alt_names,
                 "-addext",
                 "basicConstraints=critical,CA:FALSE",
                 "-addext",
                 "keyUsage=critical,digitalSignature",
                 "-addext",
                 "extendedKeyUsage=serverAuth,clientAuth"},
                dir);
    return files;
}

}  // namespace olympus::testing
