// Protocol tests of the HTTP client against real peers: nginx (plain, TLS, mutual TLS) for what it
// can serve, and scripted Beast servers on 127.0.0.1:0 for what nginx cannot do (fail on cue,
// count attempts, never answer).

#include "http/client.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include "testing/nginx.hpp"
#include "testing/pki.hpp"
#include "testing/process.hpp"
#include "trace/trace_context.hpp"

namespace olympus::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Runs `task` on `io` until it completes (other work on `io`, such as test servers, runs too).
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> task) {
    std::exception_ptr error;
    std::optional<T> result;
    asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
        error = e;
        if (!e) result.emplace(std::move(value));
        io.stop();
    });
    io.restart();
    io.run_for(std::chrono::seconds(20));
    if (error) std::rethrow_exception(error);
    if (!result) throw std::runtime_error("the test coroutine did not finish within 20 s");
    return std::move(*result);
}

ClientError expect_client_error(asio::io_context& io, asio::awaitable<Response> task) {
    try {
        const auto response = run_on(io, std::move(task));
        ADD_FAILURE() << "expected a ClientError, got status " << response.status;
    } catch (const ClientError& error) {
        return error;
    }
    return ClientError(ClientError::Kind::protocol, "no error");
}

asio::awaitable<void> sleep_for(milliseconds delay) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
}

// An HTTP/1.1 peer whose answer to the n-th request (counted over all its connections) is
// scripted by the test.
class ScriptedServer {
  public:
    enum class Action { respond, close_without_response, never_respond };
    struct Reply {
        Action action = Action::respond;
        int status = 200;
        std::string body{};
        std::vector<std::pair<std::string, std::string>> headers{};
        // Close after this response even though it says keep-alive (a server's idle close racing
        // the client's next request).
        bool drop_after = false;
    };
    using Script = std::function<Reply(int hit)>;

    ScriptedServer(asio::io_context& io, Script script)
        : state_(std::make_shared<State>(io, std::move(script))) {
        asio::co_spawn(io, accept_loop(state_), asio::detached);
    }

    std::uint16_t port() const { return state_->acceptor.local_endpoint().port(); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
    int hits() const { return state_->hits; }
    int connections() const { return state_->connections; }
    const bhttp::request<bhttp::string_body>& last_request() const { return state_->last_request; }

  private:
    struct State {
        State(asio::io_context& io, Script s)
            : acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)), script(std::move(s)) {}
        tcp::acceptor acceptor;
        Script script;
        int hits = 0;
        int connections = 0;
        bhttp::request<bhttp::string_body> last_request;
    };

    static asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
        for (;;) {
            auto [ec, socket] = co_await state->acceptor.async_accept(kTuple);
            if (ec) co_return;
            ++state->connections;
            asio::co_spawn(state->acceptor.get_executor(), serve(state, std::move(socket)), asio::detached);
        }
    }

    static asio::awaitable<void> serve(std::shared_ptr<State> state, tcp::socket socket) {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request<bhttp::string_body> request;
            auto [read_ec, read] = co_await bhttp::async_read(socket, buffer, request, kTuple);
            if (read_ec) co_return;
            state->last_request = request;
            const Reply reply = state->script(++state->hits);
            if (reply.action == Action::close_without_response) co_return;
            if (reply.action == Action::never_respond) {
                char byte = 0;  // hold the connection until the client gives up
                for (;;) {
                    auto [ec, n] = co_await socket.async_read_some(asio::buffer(&byte, 1), kTuple);
                    if (ec) co_return;
                }
            }
            bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(reply.status), 11};
            for (const auto& [name, value] : reply.headers) response.set(name, value);
            response.body() = reply.body;
            response.keep_alive(true);
            response.prepare_payload();
            auto [write_ec, written] = co_await bhttp::async_write(socket, response, kTuple);
            if (write_ec || reply.drop_after) co_return;
        }
    }

    std::shared_ptr<State> state_;
};

// Accepts connections and never sends or reads a byte: a peer that hangs mid-handshake.
class SilentServer {
  public:
    explicit SilentServer(asio::io_context& io)
        : acceptor_(std::make_shared<tcp::acceptor>(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0))) {
        asio::co_spawn(io, accept_loop(acceptor_), asio::detached);
    }
    std::uint16_t port() const { return acceptor_->local_endpoint().port(); }

  private:
    static asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor) {
        std::vector<tcp::socket> held;
        for (;;) {
            auto [ec, socket] = co_await acceptor->async_accept(kTuple);
            if (ec) co_return;
            held.push_back(std::move(socket));
        }
    }
    std::shared_ptr<tcp::acceptor> acceptor_;
};

Request make_request(Method method, std::string target) {
    Request request;
    request.method = method;
    request.method_name = std::string(to_string(method));
    request.target = std::move(target);
    return request;
}

ClientOptions fast_options(std::string base_url) {
    ClientOptions options;
    options.base_url = std::move(base_url);
    options.connect_timeout = milliseconds(2'000);
    options.request_timeout = milliseconds(5'000);
    options.backoff_base = milliseconds(5);
    options.backoff_max = milliseconds(50);
    return options;
}

std::pair<std::string, std::string> split_once(const std::string& text, char separator) {
    const auto at = text.find(separator);
    if (at == std::string::npos) return {text, ""};
    return {text.substr(0, at), text.substr(at + 1)};
}

constexpr std::size_t kBigBodyBytes = 64 * 1024;

// One nginx and one PKI for the whole suite: starting them per test would dominate its run time.
class HttpClientTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        pki_ = new testing::TempDir();
        const auto& dir = pki_->path();
        const auto ca = testing::make_test_ca(dir, "good");
        const auto other_ca = testing::make_test_ca(dir, "other");
        ca_file_ = ca.certificate;
        other_ca_file_ = other_ca.certificate;
        const auto leaf =
            testing::issue_test_certificate(ca, dir, "leaf", "localhost", "DNS:localhost,IP:127.0.0.1");
        const auto elsewhere =
            testing::issue_test_certificate(ca, dir, "elsewhere", "elsewhere.test", "DNS:elsewhere.test");
        client_certificate_ =
            testing::issue_test_certificate(ca, dir, "client", "olympus-client", "DNS:client.test");

        plain_port_ = testing::free_port();
        tls_port_ = testing::free_port();
        wrong_name_port_ = testing::free_port();
        mtls_port_ = testing::free_port();
        const auto tls = [&](const TlsFiles& files) {
            return "ssl_certificate " + files.certificate_chain + "; ssl_certificate_key " +
                   files.private_key + ";\n";
        };
        const std::string routes =
            "location = /json { default_type application/json; return 200 '{\"ok\":true}'; }\n"
            "location = /connection { return 200 \"$connection $connection_requests\"; }\n"
            "location = /echo { return 200 "
            "\"$http_traceparent|$http_tracestate|$http_user_agent|$http_host\"; }\n"
            "location = /unavailable { return 503; }\n"
            "location = /big { alias $DIR/big.txt; }\n";
        const std::string body =
            "keepalive_requests 1000;\n"
            "server { listen 127.0.0.1:" +
            std::to_string(plain_port_) + ";\n" + routes + "}\n" +
            "server { listen 127.0.0.1:" + std::to_string(tls_port_) + " ssl;\n" + tls(leaf) +
            "ssl_protocols TLSv1.2 TLSv1.3;\n" + routes + "}\n" +
            "server { listen 127.0.0.1:" + std::to_string(wrong_name_port_) + " ssl;\n" + tls(elsewhere) +
            "location / { return 200 'wrong'; } }\n" +
            "server { listen 127.0.0.1:" + std::to_string(mtls_port_) + " ssl;\n" + tls(leaf) +
            "ssl_client_certificate " + ca.certificate + "; ssl_verify_client on;\n" +
            "location / { return 200 \"$ssl_client_s_dn\"; } }\n";
        nginx_ = new testing::Nginx(body, {plain_port_, tls_port_, wrong_name_port_, mtls_port_});
        testing::write_file(nginx_->dir().path() / "big.txt", std::string(kBigBodyBytes, 'x'));
    }

    static void TearDownTestSuite() {
        delete nginx_;
        nginx_ = nullptr;
        delete pki_;
        pki_ = nullptr;
    }

    static std::string plain_url() { return "http://127.0.0.1:" + std::to_string(plain_port_); }
    static std::string tls_url(const std::string& host, std::uint16_t port) {
        return "https://" + host + ":" + std::to_string(port);
    }

    static inline testing::TempDir* pki_ = nullptr;
    static inline testing::Nginx* nginx_ = nullptr;
    static inline std::string ca_file_;
    static inline std::string other_ca_file_;
    static inline TlsFiles client_certificate_;
    static inline std::uint16_t plain_port_ = 0;
    static inline std::uint16_t tls_port_ = 0;
    static inline std::uint16_t wrong_name_port_ = 0;
    static inline std::uint16_t mtls_port_ = 0;

    asio::io_context io_;  // declared first: destroyed after every client and server of a test
};

// --- plain HTTP against nginx ------------------------------------------------------------------

TEST_F(HttpClientTest, GetReturnsStatusHeadersAndBody) {
    Client client(fast_options(plain_url()));
    const auto response = run_on(io_, client.get("/json"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.headers.get("Content-Type").value_or(""), "application/json");
    EXPECT_EQ(response.body, R"({"ok":true})");
}

TEST_F(HttpClientTest, KeepAliveServesSequentialRequestsOnOneConnection) {
    Client client(fast_options(plain_url()));
    std::vector<std::pair<std::string, std::string>> seen;
    for (int i = 0; i < 3; ++i) seen.push_back(split_once(run_on(io_, client.get("/connection")).body, ' '));
    EXPECT_EQ(seen[0].first, seen[1].first);
    EXPECT_EQ(seen[1].first, seen[2].first);
    EXPECT_EQ(seen[0].second, "1");
    EXPECT_EQ(seen[2].second, "3");
    EXPECT_EQ(client.idle_connections(), 1U);
}

TEST_F(HttpClientTest, HeadResponseLeavesTheConnectionReusable) {
    Client client(fast_options(plain_url()));
    const auto head = run_on(io_, client.send(make_request(Method::head, "/json")));
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    const auto next = split_once(run_on(io_, client.get("/connection")).body, ' ');
    EXPECT_EQ(next.second, "2");
}

TEST_F(HttpClientTest, ConnectionIdleLongerThanIdleKeepaliveIsNotReused) {
    auto options = fast_options(plain_url());
    options.idle_keepalive = milliseconds(50);
    Client client(options);
    const auto first = split_once(run_on(io_, client.get("/connection")).body, ' ');
    run_on(io_, [&]() -> asio::awaitable<int> {
        co_await sleep_for(milliseconds(120));
        co_return 0;
    }());
    const auto second = split_once(run_on(io_, client.get("/connection")).body, ' ');
    EXPECT_NE(first.first, second.first);
    EXPECT_EQ(second.second, "1");
}

TEST_F(HttpClientTest, ConcurrentRequestsUseSeparateConnectionsAndPoolKeepsAtMostMaxIdle) {
    using namespace asio::experimental::awaitable_operators;
    auto options = fast_options(plain_url());
    options.max_idle_connections = 1;
    Client client(options);
    const auto [a, b] = run_on(io_, [&]() -> asio::awaitable<std::tuple<Response, Response>> {
        co_return co_await (client.get("/connection") && client.get("/connection"));
    }());
    EXPECT_NE(split_once(a.body, ' ').first, split_once(b.body, ' ').first);
    EXPECT_EQ(client.idle_connections(), 1U);
}

TEST_F(HttpClientTest, UpstreamErrorStatusIsReturnedNotThrown) {
    Client client(fast_options(plain_url()));
    const auto response = run_on(io_, client.post_json("/unavailable", "{}"));
    EXPECT_EQ(response.status, 503);
}

TEST_F(HttpClientTest, TraceparentCarriesTheTraceIdAndANewSpanId) {
    Client client(fast_options(plain_url()));
    auto trace = trace::TraceContext::start();
    trace.tracestate = "olympus=abc";
    const auto body = run_on(io_, client.get("/echo", &trace)).body;
    const auto [traceparent, rest] = split_once(body, '|');
    const auto [tracestate, rest2] = split_once(rest, '|');
    const auto [user_agent, host] = split_once(rest2, '|');

    const auto sent = trace::parse_traceparent(traceparent);
    ASSERT_TRUE(sent.has_value()) << body;
    EXPECT_EQ(sent->trace_id, trace.trace_id);
    EXPECT_NE(sent->parent_id, trace.span_id);
    EXPECT_EQ(sent->flags, trace.flags);
    EXPECT_EQ(tracestate, "olympus=abc");
    EXPECT_TRUE(user_agent.starts_with("olympus/")) << user_agent;
    EXPECT_EQ(host, "127.0.0.1:" + std::to_string(plain_port_));

    // Each call is its own span.
    const auto again =
        trace::parse_traceparent(split_once(run_on(io_, client.get("/echo", &trace)).body, '|').first);
    ASSERT_TRUE(again.has_value());
    EXPECT_NE(again->parent_id, sent->parent_id);
}

TEST_F(HttpClientTest, WithoutTraceContextNoTraceparentIsSent) {
    Client client(fast_options(plain_url()));
    EXPECT_TRUE(run_on(io_, client.get("/echo")).body.starts_with("||"));
}

TEST_F(HttpClientTest, ResponseLargerThanMaxResponseBytesFails) {
    auto options = fast_options(plain_url());
    options.max_response_bytes = 1024;
    Client client(options);
    const auto error = expect_client_error(io_, client.get("/big"));
    EXPECT_EQ(error.kind(), ClientError::Kind::too_large);
    EXPECT_EQ(error.status(), 502);

    Client roomy(fast_options(plain_url()));
    EXPECT_EQ(run_on(io_, roomy.get("/big")).body.size(), kBigBodyBytes);
}

// --- TLS against nginx -------------------------------------------------------------------------

TEST_F(HttpClientTest, TlsVerifiesTheServerAgainstTheGivenCaByNameAndByAddress) {
    for (const std::string host : {"localhost", "127.0.0.1"}) {
        auto options = fast_options(tls_url(host, tls_port_));
        options.ca_file = ca_file_;
        Client client(options);
        const auto first = split_once(run_on(io_, client.get("/connection")).body, ' ');
        const auto second = split_once(run_on(io_, client.get("/connection")).body, ' ');
        EXPECT_EQ(first.first, second.first) << host;  // keep-alive over TLS too
        EXPECT_EQ(second.second, "2") << host;
    }
}

TEST_F(HttpClientTest, TlsFailsWhenTheCertificateIsFromAnotherCa) {
    auto options = fast_options(tls_url("localhost", tls_port_));
    options.ca_file = other_ca_file_;
    Client client(options);
    const auto error = expect_client_error(io_, client.get("/json"));
    EXPECT_EQ(error.kind(), ClientError::Kind::tls);
    EXPECT_NE(error.detail().find("certificate verification failed"), std::string::npos) << error.detail();
}

TEST_F(HttpClientTest, TlsFailsAgainstTheSystemStoreForAPrivateCa) {
    Client client(fast_options(tls_url("localhost", tls_port_)));
    EXPECT_EQ(expect_client_error(io_, client.get("/json")).kind(), ClientError::Kind::tls);
}

TEST_F(HttpClientTest, TlsFailsWhenTheCertificateNamesAnotherHost) {
    for (const std::string host : {"localhost", "127.0.0.1"}) {
        auto options = fast_options(tls_url(host, wrong_name_port_));
        options.ca_file = ca_file_;
        Client client(options);
        const auto error = expect_client_error(io_, client.get("/"));
        EXPECT_EQ(error.kind(), ClientError::Kind::tls) << host;
        EXPECT_NE(error.detail().find("mismatch"), std::string::npos) << error.detail();
    }
}

TEST_F(HttpClientTest, MutualTlsPresentsTheClientCertificate) {
    auto options = fast_options(tls_url("localhost", mtls_port_));
    options.ca_file = ca_file_;
    options.client_certificate = client_certificate_;
    Client client(options);
    const auto response = run_on(io_, client.get("/"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "CN=olympus-client");

    options.client_certificate.reset();
    Client anonymous(options);
    EXPECT_EQ(run_on(io_, anonymous.get("/")).status, 400);  // nginx: no required SSL certificate
}

// --- timeouts and connection failures ----------------------------------------------------------

TEST_F(HttpClientTest, RequestTimeoutFiresWhenTheServerNeverAnswersAndIsNotRetried) {
    ScriptedServer server(io_,
                          [](int) { return ScriptedServer::Reply{ScriptedServer::Action::never_respond}; });
    auto options = fast_options(server.url());
    options.request_timeout = milliseconds(200);
    Client client(options);
    const auto started = Clock::now();
    const auto error = expect_client_error(io_, client.get("/slow"));
    const auto elapsed = Clock::now() - started;
    EXPECT_EQ(error.kind(), ClientError::Kind::timeout);
    EXPECT_EQ(error.status(), 504);
    EXPECT_GE(elapsed, milliseconds(180));
    EXPECT_LT(elapsed, milliseconds(2'000));
    EXPECT_EQ(server.hits(), 1);  // the server may be working on it: a timeout is not retried
}

TEST_F(HttpClientTest, CancelledRequestStopsAtOnceWithoutRetry) {
    using namespace asio::experimental::awaitable_operators;
    ScriptedServer server(io_,
                          [](int) { return ScriptedServer::Reply{ScriptedServer::Action::never_respond}; });
    Client client(fast_options(server.url()));
    const auto started = Clock::now();
    const auto winner = run_on(io_, [&]() -> asio::awaitable<std::size_t> {
        // What a server does when its own caller goes away: race the call against a timer.
        auto raced = co_await (client.get("/slow") || sleep_for(milliseconds(100)));
        co_return raced.index();
    }());
    EXPECT_EQ(winner, 1U);
    EXPECT_LT(Clock::now() - started, milliseconds(1'000));
    EXPECT_EQ(server.hits(), 1);
    EXPECT_EQ(client.idle_connections(), 0U);
}

TEST_F(HttpClientTest, ConnectTimeoutCoversAHangingTlsHandshake) {
    SilentServer server(io_);
    auto options = fast_options(tls_url("127.0.0.1", server.port()));
    options.ca_file = ca_file_;
    options.connect_timeout = milliseconds(200);
    options.max_attempts = 1;
    Client client(options);
    const auto started = Clock::now();
    const auto error = expect_client_error(io_, client.get("/"));
    EXPECT_EQ(error.kind(), ClientError::Kind::timeout);
    EXPECT_LT(Clock::now() - started, milliseconds(2'000));
}

TEST_F(HttpClientTest, ConnectTimeoutFiresWhenTheServerDoesNotAcceptAndIsRetried) {
    // A listener whose accept queue is full: Linux drops further SYNs, so connect() hangs.
    tcp::acceptor acceptor(io_);
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    acceptor.listen(0);
    tcp::socket filler(io_);
    filler.connect(acceptor.local_endpoint());

    auto options = fast_options("http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
    options.connect_timeout = milliseconds(150);
    options.max_attempts = 2;
    Client client(options);
    const auto started = Clock::now();
    const auto error = expect_client_error(io_, client.get("/"));
    const auto elapsed = Clock::now() - started;
    EXPECT_EQ(error.kind(), ClientError::Kind::timeout);
    EXPECT_EQ(error.status(), 504);
    EXPECT_GE(elapsed, milliseconds(280));  // two attempts of 150 ms each
    EXPECT_LT(elapsed, milliseconds(2'000));
}

TEST_F(HttpClientTest, RefusedConnectionFailsWithAConnectErrorAfterRetries) {
    auto options = fast_options("http://127.0.0.1:" + std::to_string(testing::free_port()));
    Client client(options);
    const auto error = expect_client_error(io_, client.get("/"));
    EXPECT_EQ(error.kind(), ClientError::Kind::connect);
    EXPECT_EQ(error.status(), 502);
    EXPECT_NE(error.detail().find("after 3 attempts"), std::string::npos) << error.detail();
}

// --- retries -----------------------------------------------------------------------------------

ScriptedServer::Script unavailable_twice(std::vector<std::pair<std::string, std::string>> headers = {}) {
    return [headers](int hit) {
        ScriptedServer::Reply reply;
        reply.status = hit <= 2 ? 503 : 200;
        reply.body = "hit " + std::to_string(hit);
        if (hit <= 2) reply.headers = headers;
        return reply;
    };
}

TEST_F(HttpClientTest, GetIsRetriedOn503UntilItSucceeds) {
    ScriptedServer server(io_, unavailable_twice());
    Client client(fast_options(server.url()));
    const auto response = run_on(io_, client.get("/flaky"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hit 3");
    EXPECT_EQ(server.hits(), 3);
}

TEST_F(HttpClientTest, PostIsNotRetried) {
    ScriptedServer server(io_, unavailable_twice());
    Client client(fast_options(server.url()));
    const auto response = run_on(io_, client.post_json("/orders", "{}"));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(server.hits(), 1);
}

TEST_F(HttpClientTest, PostWithAnIdempotencyKeyIsRetried) {
    ScriptedServer server(io_, unavailable_twice());
    Client client(fast_options(server.url()));
    auto request = make_request(Method::post, "/orders");
    request.headers.set("Idempotency-Key", "k-1");
    EXPECT_EQ(run_on(io_, client.send(request)).status, 200);
    EXPECT_EQ(server.hits(), 3);
    EXPECT_EQ(server.last_request()["Idempotency-Key"], "k-1");
}

TEST_F(HttpClientTest, RetriesStopAfterMaxAttemptsWithTheLastResponse) {
    ScriptedServer server(io_, [](int) {
        return ScriptedServer::Reply{ScriptedServer::Action::respond, 502};
    });
    auto options = fast_options(server.url());
    options.max_attempts = 4;
    Client client(options);
    EXPECT_EQ(run_on(io_, client.get("/")).status, 502);
    EXPECT_EQ(server.hits(), 4);
}

TEST_F(HttpClientTest, RetryAfterWithinBackoffMaxIsWaitedFor) {
    ScriptedServer server(io_, unavailable_twice({{"Retry-After", "1"}}));
    auto options = fast_options(server.url());
    options.backoff_max = milliseconds(1'500);
    options.max_attempts = 2;
    Client client(options);
    const auto started = Clock::now();
    EXPECT_EQ(run_on(io_, client.get("/")).status, 503);  // hit 2 is still 503: attempts exhausted
    EXPECT_GE(Clock::now() - started, milliseconds(950));
    EXPECT_EQ(server.hits(), 2);
}

TEST_F(HttpClientTest, RetryAfterBeyondBackoffMaxReturnsThe503AtOnce) {
    ScriptedServer server(io_, unavailable_twice({{"Retry-After", "120"}}));
    Client client(fast_options(server.url()));
    EXPECT_EQ(run_on(io_, client.get("/")).status, 503);
    EXPECT_EQ(server.hits(), 1);
}

TEST_F(HttpClientTest, ConnectionClosedBeforeAnyResponseByteIsRetriedForGetOnly) {
    const auto script = [](int hit) {
        ScriptedServer::Reply reply;
        if (hit == 1) reply.action = ScriptedServer::Action::close_without_response;
        return reply;
    };
    ScriptedServer server(io_, script);
    Client client(fast_options(server.url()));
    EXPECT_EQ(run_on(io_, client.get("/")).status, 200);
    EXPECT_EQ(server.hits(), 2);

    ScriptedServer post_server(io_, script);
    Client post_client(fast_options(post_server.url()));
    EXPECT_EQ(expect_client_error(io_, post_client.post_json("/", "{}")).kind(), ClientError::Kind::connect);
    EXPECT_EQ(post_server.hits(), 1);
}

TEST_F(HttpClientTest, PooledConnectionClosedByTheServerIsNotUsedAgain) {
    ScriptedServer server(io_, [](int) {
        ScriptedServer::Reply reply;
        reply.drop_after = true;  // says keep-alive, closes anyway
        return reply;
    });
    Client client(fast_options(server.url()));
    EXPECT_EQ(run_on(io_, client.post_json("/", "{}")).status, 200);
    run_on(io_, [&]() -> asio::awaitable<int> {
        co_await sleep_for(milliseconds(20));  // lets the server's FIN arrive
        co_return 0;
    }());
    EXPECT_EQ(run_on(io_, client.post_json("/", "{}")).status, 200);  // not retried: a fresh connection
    EXPECT_EQ(server.hits(), 2);
    EXPECT_EQ(server.connections(), 2);
}

TEST_F(HttpClientTest, RequestLostOnAPooledConnectionIsRedoneOnAFreshOneForGetOnly) {
    // The second request reaches a kept-alive connection that the server then drops unanswered,
    // as when its idle timeout strikes at that moment.
    const auto script = [](int hit) {
        ScriptedServer::Reply reply;
        if (hit == 2) reply.action = ScriptedServer::Action::close_without_response;
        return reply;
    };
    auto get_server = std::make_unique<ScriptedServer>(io_, script);
    auto options = fast_options(get_server->url());
    options.max_attempts = 1;  // no retries: only the redo on a fresh connection can save it
    Client client(options);
    EXPECT_EQ(run_on(io_, client.get("/")).status, 200);
    EXPECT_EQ(run_on(io_, client.get("/")).status, 200);
    EXPECT_EQ(get_server->hits(), 3);
    EXPECT_EQ(get_server->connections(), 2);

    ScriptedServer post_server(io_, script);
    options.base_url = post_server.url();
    Client post_client(options);
    EXPECT_EQ(run_on(io_, post_client.post_json("/", "{}")).status, 200);
    EXPECT_EQ(expect_client_error(io_, post_client.post_json("/", "{}")).kind(), ClientError::Kind::connect);
    EXPECT_EQ(post_server.hits(), 2);
}

TEST_F(HttpClientTest, OneClientKeepsAPoolPerIoContextUntilThatContextShutsDown) {
    Client client(fast_options(plain_url()));
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<std::vector<std::string>> seen(2);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < seen.size(); ++t) {
        contexts.push_back(std::make_unique<asio::io_context>());
        threads.emplace_back([&client, &io = *contexts.back(), &out = seen[t]] {
            for (int i = 0; i < 3; ++i) out.push_back(run_on(io, client.get("/connection")).body);
        });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& bodies : seen) {
        ASSERT_EQ(bodies.size(), 3U);
        EXPECT_EQ(split_once(bodies[0], ' ').first, split_once(bodies[2], ' ').first);
        EXPECT_EQ(split_once(bodies[2], ' ').second, "3");
    }
    EXPECT_NE(split_once(seen[0][0], ' ').first, split_once(seen[1][0], ' ').first);
    EXPECT_EQ(client.idle_connections(), 2U);

    contexts.clear();  // the client outlives them: their connections close with them
    EXPECT_EQ(client.idle_connections(), 0U);
}

// --- what is sent --------------------------------------------------------------------------------

TEST_F(HttpClientTest, BasePathPrefixAndCallerHeadersAreSentButHopByHopFieldsAreNot) {
    ScriptedServer server(io_, [](int) { return ScriptedServer::Reply{}; });
    Client client(fast_options(server.url() + "/prefix/"));
    auto request = make_request(Method::put, "/items/7?x=1");
    request.headers.set("X-Request-Id", "r-1");
    request.headers.set("Connection", "close");
    request.headers.set("Transfer-Encoding", "chunked");
    request.body = "abc";
    EXPECT_EQ(run_on(io_, client.send(request)).status, 200);
    const auto& seen = server.last_request();
    EXPECT_EQ(seen.method(), bhttp::verb::put);
    EXPECT_EQ(seen.target(), "/prefix/items/7?x=1");
    EXPECT_EQ(seen["X-Request-Id"], "r-1");
    EXPECT_EQ(seen.body(), "abc");
    EXPECT_TRUE(seen.keep_alive());
    EXPECT_EQ(seen.count(bhttp::field::transfer_encoding), 0U);
}

TEST_F(HttpClientTest, HeaderValueWithLineBreakIsRejectedBeforeSending) {
    ScriptedServer server(io_, [](int) { return ScriptedServer::Reply{}; });
    Client client(fast_options(server.url()));
    auto request = make_request(Method::get, "/");
    request.headers.set("X-Evil", "a\r\nInjected: yes");
    EXPECT_EQ(expect_client_error(io_, client.send(request)).kind(), ClientError::Kind::invalid_request);
    EXPECT_EQ(server.hits(), 0);
}

void make_client(ClientOptions options) {
    Client client(std::move(options));
}

TEST_F(HttpClientTest, PlainHttpIsRefusedForHostsOtherThanLoopback) {
    EXPECT_THROW(make_client(ClientOptions{.base_url = "http://example.com"}), std::invalid_argument);
    EXPECT_THROW(make_client(ClientOptions{.base_url = "http://10.1.2.3:8080"}), std::invalid_argument);
    EXPECT_NO_THROW(make_client(ClientOptions{.base_url = "http://example.com", .allow_plain_http = true}));
    EXPECT_NO_THROW(make_client(ClientOptions{.base_url = "http://localhost:8080"}));
    EXPECT_NO_THROW(make_client(ClientOptions{.base_url = "http://[::1]:8080"}));
    EXPECT_NO_THROW(make_client(ClientOptions{.base_url = "https://example.com"}));
}

TEST_F(HttpClientTest, UnusableBaseUrlOrCaFileIsRejectedAtConstruction) {
    EXPECT_THROW(make_client(ClientOptions{.base_url = "ftp://example.com"}), std::invalid_argument);
    EXPECT_THROW(make_client(ClientOptions{.base_url = "https://user:secret@example.com"}),
                 std::invalid_argument);
    EXPECT_THROW(make_client(ClientOptions{.base_url = "example.com"}), std::invalid_argument);
    EXPECT_THROW(
        make_client(ClientOptions{.base_url = "https://example.com", .ca_file = "/nonexistent/ca.pem"}),
        std::invalid_argument);
}

}  // namespace
}  // namespace olympus::http
