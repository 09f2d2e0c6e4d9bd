// Token verification throughput through the BearerAuth middleware (router dispatch of a GET with
// an Authorization header), ES256 and RS256, with the verified-token cache off (every request
// checks the signature) and on (a token seen again skips it), against `openssl speed` verify/s of
// the same algorithm measured in the same run. One thread, like `openssl speed` without -multi.
//
//   token_bench [seconds-per-case]      prints one line per case and a TSV summary (lines "TSV\t...")
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "auth/base64url.hpp"
#include "auth/bearer.hpp"
#include "auth/jwk.hpp"
#include "auth/test_tokens.hpp"
#include "http/router.hpp"

namespace {

using namespace olympus;
using Clock = std::chrono::steady_clock;

struct OpensslFigures {
    double es256_verify = 0;
    double rs256_verify = 0;
};

// `openssl speed -seconds 3 ecdsap256 rsa2048`: the summary lines end in "sign/s verify/s".
OpensslFigures openssl_speed(int seconds) {
    const std::string command =
        "openssl speed -seconds " + std::to_string(seconds) + " ecdsap256 rsa2048 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) throw std::runtime_error("cannot run openssl speed");
    std::string output;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) output += buffer;
    OpensslFigures figures;
    const std::regex rsa(R"(rsa 2048 bits\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+))");
    const std::regex ecdsa(R"(256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+))");
    std::smatch m;
    if (std::regex_search(output, m, rsa)) figures.rs256_verify = std::stod(m[2]);
    if (std::regex_search(output, m, ecdsa)) figures.es256_verify = std::stod(m[2]);
    if (figures.rs256_verify == 0 || figures.es256_verify == 0)
        throw std::runtime_error("cannot parse openssl speed output:\n" + output);
    return figures;
}

boost::asio::awaitable<http::Response> hello(http::RequestContext& ctx) {
    co_return http::Response::text(200, ctx.user_id);
}

// Requests per second answered 200 by a router whose only middleware is BearerAuth.
double middleware_rate(const auth::testing::JoseTokens& tokens, const std::string& token, std::size_t cache,
                       double seconds) {
    auth::VerifierOptions options;
    options.validation = tokens.options();
    options.cache_capacity = cache;
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(tokens.now));
    options.clock = [now] { return now; };
    auto verifier = std::make_shared<auth::TokenVerifier>(
        options, std::make_shared<auth::StaticKeys>(auth::KeySet::from_jwks(tokens.jwks)));
    http::Router router;
    router.get("/v1/me", hello);
    router.use(std::make_shared<auth::BearerAuth>(verifier, auth::AccessRules{}));

    http::Request request;
    request.method = http::Method::get;
    request.method_name = "GET";
    request.target = "/v1/me";
    request.headers.add("Authorization", "Bearer " + token);

    auto loop = [&]() -> boost::asio::awaitable<std::uint64_t> {
        std::uint64_t done = 0;
        const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
        while (true) {
            for (int i = 0; i < 64; ++i) {
                http::RequestContext ctx{request};
                const http::Response response = co_await router.dispatch(ctx);
                if (response.status != 200)
                    throw std::runtime_error("token refused: status " + std::to_string(response.status));
                ++done;
            }
            if (Clock::now() >= deadline) break;
        }
        co_return done;
    };
    boost::asio::io_context io;
    const auto start = Clock::now();
    auto result = boost::asio::co_spawn(io, loop(), boost::asio::use_future);
    io.run();
    const std::uint64_t done = result.get();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return static_cast<double>(done) / elapsed;
}

// PublicKey::verify alone on the token's signing input: the EVP call Olympus makes, without
// parsing, claims or the middleware (tells where the time between openssl speed and BearerAuth goes).
double key_verify_rate(const auth::testing::JoseTokens& tokens, const std::string& token,
                       auth::Algorithm algorithm, double seconds) {
    const auto keys = auth::KeySet::from_jwks(tokens.jwks);
    const auto last_dot = token.rfind('.');
    const std::string_view signing_input(token.data(), last_dot);
    const auto signature = auth::base64url_decode(std::string_view(token).substr(last_dot + 1));
    const auto key = keys.find(algorithm == auth::Algorithm::es256 ? "es-1" : "rs-1", algorithm);
    if (!signature || !key) throw std::runtime_error("cannot split the fixture token");
    std::uint64_t done = 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    do {
        for (int i = 0; i < 64; ++i, ++done)
            if (!key->verify(algorithm, signing_input, *signature))
                throw std::runtime_error("signature refused");
    } while (Clock::now() < deadline);
    return static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
    const auto& tokens = auth::testing::jose_tokens();
    std::cerr << "openssl speed -seconds 3 ecdsap256 rsa2048 ...\n";
    const OpensslFigures peer = openssl_speed(3);
    struct Case {
        const char* alg;
        const char* token;
        auth::Algorithm algorithm;
        double openssl;
    };
    const Case cases[] = {{"ES256", "valid_es256", auth::Algorithm::es256, peer.es256_verify},
                          {"RS256", "valid_rs256", auth::Algorithm::rs256, peer.rs256_verify}};
    std::cout << "alg\topenssl_verify_per_s\tkey_verify_per_s\tratio\tbearer_nocache_per_s\tratio\t"
                 "bearer_cache_per_s\tratio\n";
    for (const Case& c : cases) {
        const double raw = key_verify_rate(tokens, tokens.token(c.token), c.algorithm, seconds);
        const double nocache = middleware_rate(tokens, tokens.token(c.token), 0, seconds);
        const double cached = middleware_rate(tokens, tokens.token(c.token), 10'000, seconds);
        std::printf("TSV\t%s\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.2f\n", c.alg, c.openssl, raw,
                    raw / c.openssl, nocache, nocache / c.openssl, cached, cached / c.openssl);
        std::fflush(stdout);
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "token_bench: " << e.what() << "\n";
    return 1;
}
