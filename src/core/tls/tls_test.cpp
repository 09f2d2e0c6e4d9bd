// TLS of the server (protocol versions, certificate verification, ALPN) and the development
// certificate, against real handshakes on 127.0.0.1.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <sys/stat.h>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/router.hpp"
#include "http/server.hpp"
#include "http/server_test_support.hpp"
#include "tls/context.hpp"
#include "tls/dev_certificate.hpp"

namespace olympus::tls {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

class TempDir {
  public:
    TempDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("olympus-tls-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr load_cert(const std::string& path) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
    return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

// Runs the io_context until `done` or the timeout; the tests never hang on a broken peer.
template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds timeout = 5s) {
    io.restart();
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < until) io.run_for(20ms);
    return done();
}

struct ClientOptions {
    int min_version = TLS1_2_VERSION;
    int max_version = 0;
    std::string ca_file;             // verify against it when set
    std::string host = "localhost";  // checked against the certificate when verifying
    std::string alpn = "http/1.1";   // offered as the single protocol; empty: no ALPN
};

struct HandshakeResult {
    boost::system::error_code ec;
    int version = 0;
    std::string alpn;
    std::string response;  // the first response to GET /hello, head and body
};

HandshakeResult handshake_and_get(std::uint16_t port, const ClientOptions& options,
                                  bool send_request = true) {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    SSL_CTX* native = ctx.native_handle();
    if (options.min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(native, 0);  // let it try
    SSL_CTX_set_min_proto_version(native, options.min_version);
    SSL_CTX_set_max_proto_version(native, options.max_version);
    if (options.min_version < TLS1_2_VERSION) SSL_CTX_set_cipher_list(native, "DEFAULT:@SECLEVEL=0");
    if (!options.ca_file.empty()) {
        ctx.load_verify_file(options.ca_file);
        ctx.set_verify_mode(asio::ssl::verify_peer);
    } else {
        ctx.set_verify_mode(asio::ssl::verify_none);
    }
    asio::ssl::stream<tcp::socket> stream(io, ctx);
    SSL* ssl = stream.native_handle();
    // SNI; SSL_set_tlsext_host_name is a macro with an old-style cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(options.host.c_str()));
    if (!options.ca_file.empty()) SSL_set1_host(ssl, options.host.c_str());
    if (!options.alpn.empty()) {
        std::string wire(1, static_cast<char>(options.alpn.size()));
        wire += options.alpn;
        SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    }

    HandshakeResult result;
    stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    bool done = false;
    stream.async_handshake(asio::ssl::stream_base::client, [&](boost::system::error_code ec) {
        result.ec = ec;
        done = true;
    });
    if (!run_until(io, [&] { return done; })) {
        result.ec = asio::error::timed_out;
        return result;
    }
    if (result.ec) return result;
    result.version = SSL_version(ssl);
    const unsigned char* selected = nullptr;
    unsigned selected_len = 0;
    SSL_get0_alpn_selected(ssl, &selected, &selected_len);
    result.alpn.assign(reinterpret_cast<const char*>(selected), selected_len);
    if (!send_request) return result;

    std::string request = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for (int i = 0; i < 2; ++i) {  // twice: keep-alive over TLS
        done = false;
        asio::async_write(stream, asio::buffer(request), [&](boost::system::error_code ec, std::size_t) {
            result.ec = ec;
            done = true;
        });
        if (!run_until(io, [&] { return done; }) || result.ec) return result;
        asio::streambuf buffer;
        done = false;
        asio::async_read_until(stream, buffer, "hello", [&](boost::system::error_code ec, std::size_t) {
            result.ec = ec;
            done = true;
        });
        if (!run_until(io, [&] { return done; })) result.ec = asio::error::timed_out;
        if (result.ec) return result;
        result.response.assign(asio::buffers_begin(buffer.data()), asio::buffers_end(buffer.data()));
    }
    return result;
}

class TlsServerTest : public ::testing::Test {
  protected:
    TlsServerTest() {
        dev_ = ensure_dev_certificate(dir_.path().string());
        http::ServerOptions options;
        options.name = "tls-test";
        options.tls = dev_.files;
        options.limits.read_timeout = 2s;
        server_ = std::make_unique<http::testing::TestServer>(options, [](http::Router& router) {
            router.get("/hello", [](http::RequestContext&) -> asio::awaitable<http::Response> {
                co_return http::Response::text(200, "hello");
            });
        });
    }

    std::uint16_t port() const { return server_->port(); }

    TempDir dir_;
    DevCertificate dev_;
    std::unique_ptr<http::testing::TestServer> server_;
};

TEST_F(TlsServerTest, Tls12Succeeds) {
    ClientOptions options;
    options.min_version = options.max_version = TLS1_2_VERSION;
    auto r = handshake_and_get(port(), options);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.version, TLS1_2_VERSION);
    EXPECT_NE(r.response.find("HTTP/1.1 200 OK"), std::string::npos);
    EXPECT_TRUE(r.response.ends_with("hello"));
}

TEST_F(TlsServerTest, Tls13Succeeds) {
    ClientOptions options;
    options.min_version = options.max_version = TLS1_3_VERSION;
    auto r = handshake_and_get(port(), options);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.version, TLS1_3_VERSION);
    EXPECT_NE(r.response.find("HTTP/1.1 200 OK"), std::string::npos);
}

TEST_F(TlsServerTest, Tls11IsRefused) {
    ClientOptions options;
    options.min_version = options.max_version = TLS1_1_VERSION;
    auto r = handshake_and_get(port(), options, false);
    EXPECT_TRUE(r.ec);
    // The server keeps serving others.
    auto ok = handshake_and_get(port(), ClientOptions{});
    EXPECT_FALSE(ok.ec) << ok.ec.message();
}

TEST_F(TlsServerTest, DevCertificateVerifiesAgainstTheDevCaForLocalhost) {
    ClientOptions options;
    options.ca_file = dev_.ca_file;
    auto r = handshake_and_get(port(), options);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.alpn, "http/1.1");
}

TEST_F(TlsServerTest, DevCertificateDoesNotVerifyForAnotherHost) {
    ClientOptions options;
    options.ca_file = dev_.ca_file;
    options.host = "example.com";
    auto r = handshake_and_get(port(), options, false);
    EXPECT_TRUE(r.ec);
}

TEST_F(TlsServerTest, AlpnWithoutHttp11IsRefused) {
    ClientOptions options;
    options.alpn = "h2";
    auto r = handshake_and_get(port(), options, false);
    EXPECT_TRUE(r.ec);
}

TEST_F(TlsServerTest, PlainHttpOnTheTlsPortIsClosed) {
    http::testing::RawClient client(port());
    ASSERT_TRUE(client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(client.wait_closed(3s));
    auto ok = handshake_and_get(port(), ClientOptions{});
    EXPECT_FALSE(ok.ec) << ok.ec.message();
}

TEST_F(TlsServerTest, StalledHandshakeIsClosedAtTheReadTimeout) {
    http::testing::RawClient client(port());
    auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.wait_closed(4s));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 1500ms);
    for (int i = 0; i < 100 && server_->server().open_connections() != 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(server_->server().open_connections(), 0u);
}

TEST(DevCertificateTest, CreatesAFreshCaAndLeafWithPrivateKeyMode0600) {
    TempDir dir;
    auto dev = ensure_dev_certificate((dir.path() / "certs").string());
    struct stat st {};
    ASSERT_EQ(::stat(dev.files.private_key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto ca = load_cert(dev.ca_file);
    auto leaf = load_cert(dev.files.certificate_chain);
    ASSERT_TRUE(ca && leaf);
    EXPECT_EQ(X509_check_ca(ca.get()), 1);
    EXPECT_EQ(X509_check_ca(leaf.get()), 0);
    EXPECT_EQ(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
    EXPECT_EQ(X509_check_host(leaf.get(), "example.com", 0, 0, nullptr), 0);
    EXPECT_TRUE(X509_get_extended_key_usage(leaf.get()) & XKU_SSL_SERVER);

    char cn[128] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca.get()), NID_commonName, cn, sizeof cn);
    EXPECT_STREQ(cn, "Olympus Development CA");

    // The leaf chains to the CA.
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
    X509_STORE_add_cert(store.get(), ca.get());
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                        X509_STORE_CTX_free);
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
    EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
        << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));

    // About 825 days of validity for the leaf, ten years for the CA.
    int days = 0, seconds = 0;
    ASSERT_EQ(
        ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(leaf.get()), X509_get0_notAfter(leaf.get())), 1);
    EXPECT_NEAR(days, 825, 1);
    ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(ca.get()), X509_get0_notAfter(ca.get())),
              1);
    EXPECT_NEAR(days, 3650, 1);
}

TEST(DevCertificateTest, ReusesValidFilesAndReplacesBrokenOnes) {
    TempDir dir;
    auto first = ensure_dev_certificate(dir.path().string());
    std::string cert = read_file(first.files.certificate_chain);
    auto again = ensure_dev_certificate(dir.path().string());
    EXPECT_EQ(read_file(again.files.certificate_chain), cert);

    std::ofstream(first.files.private_key, std::ios::trunc) << "not a key";
    auto renewed = ensure_dev_certificate(dir.path().string());
    EXPECT_NE(read_file(renewed.files.certificate_chain), cert);
    EXPECT_NO_THROW(make_server_context(renewed.files));
}

TEST(TlsContextTest, BadFilesFailWithTheFileName) {
    TempDir dir;
    http::TlsFiles missing{(dir.path() / "nope.pem").string(), (dir.path() / "nope-key.pem").string()};
    try {
        make_server_context(missing);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("nope.pem"), std::string::npos) << e.what();
    }

    std::ofstream(dir.path() / "junk.pem")
        << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    auto dev = ensure_dev_certificate((dir.path() / "dev").string());
    http::TlsFiles junk{(dir.path() / "junk.pem").string(), dev.files.private_key};
    EXPECT_THROW(make_server_context(junk), std::runtime_error);

    // The CA's certificate with the leaf's key: a pair that does not belong together.
    http::TlsFiles mismatched{dev.ca_file, dev.files.private_key};
    try {
        make_server_context(mismatched);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
    }
}

TEST(TlsContextTest, ServerStartFailsOnBadTlsFiles) {
    http::IoPool pool(1);
    http::Router router;
    http::ServerOptions options;
    options.tls = http::TlsFiles{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
    http::Server server(pool, options, router);
    EXPECT_THROW(server.start(), std::runtime_error);
}

}  // namespace
}  // namespace olympus::tls
