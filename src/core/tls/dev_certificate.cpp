#include "tls/dev_certificate.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/context.hpp"

namespace olympus::tls {

namespace {

namespace fs = std::filesystem;

constexpr long kDay = 24L * 60 * 60;
constexpr long kCaLifetime = 3650 * kDay;   // ten years: the CA is trusted once per machine
constexpr long kLeafLifetime = 825 * kDay;  // the longest lifetime Apple's TLS stack accepts
constexpr long kRenewBefore = 30 * kDay;    // renew well before clients start to refuse it
constexpr long kBackdate = 5 * 60;          // tolerate a little clock skew between processes

struct X509Deleter {
    void operator()(X509* p) const { X509_free(p); }
};
struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioDeleter {
    void operator()(BIO* p) const { BIO_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

[[noreturn]] void fail(std::string_view what) {
    throw std::runtime_error("dev certificate: " + std::string(what) + ": " + openssl_errors());
}

void check(int ok, std::string_view what) {
    if (ok != 1) fail(what);
}

PkeyPtr make_key() {
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) fail("cannot generate an EC P-256 key");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) fail(std::string("cannot build extension ") + OBJ_nid2sn(nid));
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    check(ok, "cannot add an extension");
}

void set_name(X509_NAME* name, const char* common_name) {
    check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("Olympus"), -1, -1, 0),
          "cannot set O");
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0),
          "cannot set CN");
}

// A new certificate with a random positive 127-bit serial and the given lifetime.
X509Ptr make_certificate(EVP_PKEY* key, const char* common_name, long lifetime) {
    X509Ptr cert(X509_new());
    if (!cert) fail("cannot allocate a certificate");
    check(X509_set_version(cert.get(), X509_VERSION_3), "cannot set the version");

    unsigned char serial[16];
    check(RAND_bytes(serial, sizeof serial), "cannot draw a serial number");
    serial[0] &= 0x7f;  // serials are positive (RFC 5280 §4.1.2.2)
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())))
        fail("cannot set the serial");

    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdate) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), lifetime)) {
        fail("cannot set the validity");
    }
    check(X509_set_pubkey(cert.get(), key), "cannot set the public key");
    set_name(X509_get_subject_name(cert.get()), common_name);
    return cert;
}

struct Generated {
    X509Ptr ca;
    X509Ptr leaf;
    PkeyPtr leaf_key;
};

Generated generate() {
    PkeyPtr ca_key = make_key();
    X509Ptr ca = make_certificate(ca_key.get(), "Olympus Development CA", kCaLifetime);
    check(X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())), "cannot set the CA issuer");
    add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) <= 0) fail("cannot sign the CA certificate");

    PkeyPtr leaf_key = make_key();
    X509Ptr leaf = make_certificate(leaf_key.get(), "localhost", kLeafLifetime);
    check(X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca.get())), "cannot set the issuer");
    add_extension(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
    add_extension(leaf.get(), ca.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
    add_extension(leaf.get(), ca.get(), NID_subject_key_identifier, "hash");
    add_extension(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    if (X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) <= 0) fail("cannot sign the server certificate");
    return {std::move(ca), std::move(leaf), std::move(leaf_key)};
}

X509Ptr read_certificate(const fs::path& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) return nullptr;
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PkeyPtr read_key(const fs::path& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) return nullptr;
    return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// The existing files are reused only when the key matches the certificate, the CA signed the
// certificate, and neither expires within kRenewBefore.
bool existing_usable(const fs::path& ca_path, const fs::path& cert_path, const fs::path& key_path) {
    X509Ptr ca = read_certificate(ca_path);
    X509Ptr leaf = read_certificate(cert_path);
    PkeyPtr key = read_key(key_path);
    bool usable = false;
    if (ca && leaf && key) {
        std::time_t horizon = std::time(nullptr) + kRenewBefore;
        PkeyPtr ca_public(X509_get_pubkey(ca.get()));
        usable = X509_check_private_key(leaf.get(), key.get()) == 1 && ca_public &&
                 X509_verify(leaf.get(), ca_public.get()) == 1 &&
                 X509_cmp_time(X509_get0_notAfter(leaf.get()), &horizon) > 0 &&
                 X509_cmp_time(X509_get0_notAfter(ca.get()), &horizon) > 0;
    }
    ERR_clear_error();  // a missing or stale file is not an error: it is replaced
    return usable;
}

// Writes through a temporary file and a rename, so a reader never sees half a file.
template <class WritePem>
void write_file(const fs::path& path, mode_t mode, WritePem write_pem) {
    fs::path temp = path;
    temp += ".tmp";
    ::unlink(temp.c_str());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        throw std::runtime_error("dev certificate: cannot create '" + temp.string() +
                                 "': " + std::strerror(errno));
    ::fchmod(fd, mode);  // the umask must not widen or narrow what was asked
    FILE* file = ::fdopen(fd, "w");
    if (!file) {
        ::close(fd);
        throw std::runtime_error("dev certificate: cannot open '" + temp.string() + "'");
    }
    BioPtr bio(BIO_new_fp(file, BIO_CLOSE));
    if (!bio) {
        std::fclose(file);
        fail("cannot wrap '" + temp.string() + "'");
    }
    bool ok = write_pem(bio.get()) == 1 && BIO_flush(bio.get()) == 1 && ::fsync(fd) == 0;
    bio.reset();
    if (!ok) {
        ::unlink(temp.c_str());
        fail("cannot write '" + temp.string() + "'");
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error("dev certificate: cannot rename '" + temp.string() +
                                 "': " + std::strerror(errno));
    }
}

// Serialises concurrent callers (e.g. two services starting at once) on the same directory.
class DirectoryLock {
  public:
    explicit DirectoryLock(const fs::path& dir) {
        fs::path path = dir / ".dev-certificate.lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0)
            throw std::runtime_error("dev certificate: cannot open '" + path.string() +
                                     "': " + std::strerror(errno));
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno != EINTR) {
                ::close(fd_);
                throw std::runtime_error("dev certificate: cannot lock '" + path.string() + "'");
            }
        }
    }
    ~DirectoryLock() { ::close(fd_); }
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

  private:
    int fd_ = -1;
};

}  // namespace

DevCertificate ensure_dev_certificate(const std::string& dir) {
    fs::path base(dir);
    std::error_code ec;
    fs::create_directories(base, ec);
    if (ec) throw std::runtime_error("dev certificate: cannot create '" + dir + "': " + ec.message());

    DevCertificate result;
    fs::path ca_path = base / "dev-ca.pem";
    fs::path cert_path = base / "dev-cert.pem";
    fs::path key_path = base / "dev-key.pem";
    result.ca_file = ca_path.string();
    result.files.certificate_chain = cert_path.string();
    result.files.private_key = key_path.string();

    DirectoryLock lock(base);
    if (existing_usable(ca_path, cert_path, key_path)) return result;

    Generated made = generate();
    // The key first: a reader that finds a new certificate then also finds its key.
    write_file(key_path, 0600, [&](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, made.leaf_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    write_file(cert_path, 0644, [&](BIO* bio) { return PEM_write_bio_X509(bio, made.leaf.get()); });
    write_file(ca_path, 0644, [&](BIO* bio) { return PEM_write_bio_X509(bio, made.ca.get()); });
    return result;
}

}  // namespace olympus::tls
