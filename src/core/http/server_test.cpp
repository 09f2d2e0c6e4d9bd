// Protocol tests of the HTTP/1.1 server over real sockets on 127.0.0.1.

#include "http/server.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "http/router.hpp"
#include "http/server_test_support.hpp"
#include "http/wire.hpp"

namespace olympus::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::get_request;
using testing::RawClient;
using testing::TestServer;

asio::awaitable<void> sleep_for(std::chrono::milliseconds ms) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(ms);
    co_await timer.async_wait(asio::use_awaitable);
}

struct Probe {
    std::atomic<int> slow_entered{0};
    std::chrono::milliseconds slow_for{300};
};

void routes(Router& router, Probe& probe) {
    router.get("/hello",
               [](RequestContext&) -> asio::awaitable<Response> { co_return Response::text(200, "hello"); });
    router.get("/target", [](RequestContext& ctx) -> asio::awaitable<Response> {
        co_return Response::text(200, ctx.request.target);
    });
    router.post("/echo", [](RequestContext& ctx) -> asio::awaitable<Response> {
        co_return Response::text(200, ctx.request.body);
    });
    router.get("/ip", [](RequestContext& ctx) -> asio::awaitable<Response> {
        co_return Response::text(200, ctx.request.remote_ip);
    });
    router.get("/slow", [&probe](RequestContext&) -> asio::awaitable<Response> {
        ++probe.slow_entered;
        co_await sleep_for(probe.slow_for);
        co_return Response::text(200, "slow");
    });
    router.get("/inject", [](RequestContext&) -> asio::awaitable<Response> {
        Response r = Response::text(200, "x");
        r.headers.set("X-Good", "yes");
        r.headers.set("X-Evil", "a\r\nSet-Cookie: stolen=1");
        r.headers.set("Content-Length", "999");
        co_return r;
    });
    router.get("/bad-status",
               [](RequestContext&) -> asio::awaitable<Response> { co_return Response::empty(42); });
    router.get("/close", [](RequestContext&) -> asio::awaitable<Response> {
        Response r = Response::text(200, "bye");
        r.headers.set("Connection", "close");
        co_return r;
    });
}

class ServerTest : public ::testing::Test {
  protected:
    explicit ServerTest(ServerLimits limits = {}) {
        ServerOptions options;
        options.name = "test";
        options.limits = limits;
        server_ = std::make_unique<TestServer>(options, [this](Router& r) { routes(r, probe_); });
    }

    std::uint16_t port() const { return server_->port(); }

    Probe probe_;
    std::unique_ptr<TestServer> server_;
};

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/hello")));
    auto first = client.read_response();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "hello");
    EXPECT_FALSE(first->has("connection"));

    ASSERT_TRUE(client.send(get_request("/target?n=2")));
    auto second = client.read_response();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "/target?n=2");
    EXPECT_EQ(server_->server().open_connections(), 1u);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
    RawClient client(port());
    std::string batch;
    for (int i = 0; i < 5; ++i) batch += get_request("/target?i=" + std::to_string(i));
    batch += "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nlast";
    ASSERT_TRUE(client.send(batch));
    for (int i = 0; i < 5; ++i) {
        auto r = client.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body, "/target?i=" + std::to_string(i));
    }
    auto last = client.read_response();
    ASSERT_TRUE(last);
    EXPECT_EQ(last->body, "last");
}

TEST_F(ServerTest, HeadSendsTheContentLengthOfGetWithoutTheBody) {
    RawClient client(port());
    ASSERT_TRUE(client.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto head = client.read_response(/*head=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("content-length"), "5");
    EXPECT_EQ(head->body, "");
    // Had the body been sent, it would now be parsed as the start of the next response.
    ASSERT_TRUE(client.send(get_request("/hello")));
    auto next = client.read_response();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status_line, "HTTP/1.1 200 OK");
    EXPECT_EQ(next->body, "hello");
}

TEST_F(ServerTest, ResponsesCarryDateAndNoServerHeader) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/hello")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("date").size(), 29u);
    EXPECT_TRUE(r->header("date").ends_with(" GMT"));
    EXPECT_FALSE(r->has("server"));
    EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");
}

TEST_F(ServerTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
    RawClient client(port());
    ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\n\r\n"));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(client.wait_closed(2s));
}

TEST_F(ServerTest, Http10WithKeepAliveStaysOpen) {
    RawClient client(port());
    ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "keep-alive");
    ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\n\r\n"));
    auto second = client.read_response();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, 200);
    EXPECT_TRUE(client.wait_closed(2s));
}

TEST_F(ServerTest, ConnectionCloseFromClientIsHonoured) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/hello", "Connection: close\r\n")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(client.wait_closed(2s));
}

TEST_F(ServerTest, ConnectionCloseFromHandlerClosesAfterTheResponse) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/close")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "bye");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(client.wait_closed(2s));
}

TEST_F(ServerTest, BodiesArriveWithContentLengthAndChunked) {
    RawClient client(port());
    ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"));
    auto plain = client.read_response();
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->body, "hello world");

    ASSERT_TRUE(
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n"));
    auto chunked = client.read_response();
    ASSERT_TRUE(chunked);
    EXPECT_EQ(chunked->status, 200);
    EXPECT_EQ(chunked->body, "hello world");
}

TEST_F(ServerTest, ExpectContinueGetsAnInterimResponseBeforeTheBody) {
    RawClient client(port());
    ASSERT_TRUE(
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    EXPECT_EQ(client.read_bytes(25), "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(client.send("data"));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "data");
}

TEST_F(ServerTest, RequestCarriesTheRemoteAddress) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/ip")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "127.0.0.1");
}

TEST_F(ServerTest, HandlerHeadersThatWouldSplitTheResponseAreDropped) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/inject")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("x-good"), "yes");
    EXPECT_FALSE(r->has("x-evil"));
    EXPECT_FALSE(r->has("set-cookie"));
    EXPECT_EQ(r->header("content-length"), "1");  // the server frames the body, not the handler
    EXPECT_EQ(r->body, "x");
}

TEST_F(ServerTest, InvalidStatusFromHandlerBecomes500) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/bad-status")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->header("content-type"), "application/problem+json");
}

TEST_F(ServerTest, RouterAnswersUnknownPathsAndMethods) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/nowhere")));
    auto missing = client.read_response();
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    ASSERT_TRUE(client.send("BREW /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto brew = client.read_response();
    ASSERT_TRUE(brew);
    EXPECT_EQ(brew->status, 501);
}

TEST_F(ServerTest, ManyConnectionsAreSpreadAndAllServed) {
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<RawClient>(port()));
    for (auto& c : clients) ASSERT_TRUE(c->send(get_request("/hello")));
    for (auto& c : clients) {
        auto r = c->read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
    }
    EXPECT_EQ(server_->server().open_connections(), 50u);
    clients.clear();
    for (int i = 0; i < 200 && server_->server().open_connections() != 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(server_->server().open_connections(), 0u);
}

TEST_F(ServerTest, RequestsArrivingInPiecesAreAssembled) {
    RawClient client(port());
    for (std::string_view piece :
         {"POST /ec", "ho HTTP/1.1\r\nHost: x\r\nContent-", "Length: 10\r\n\r\n", "01234", "56789"}) {
        ASSERT_TRUE(client.send(piece));
        std::this_thread::sleep_for(30ms);
    }
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "0123456789");
}

TEST_F(ServerTest, ConnectionIdleForSeveralSweepsStillServesItsNextRequest) {
    // Idle for more than two sweeps (250 ms each with the default limits), the connection gives its
    // buffer back and waits for readiness alone; the next requests must still be read whole.
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/hello")));
    ASSERT_TRUE(client.read_response());
    std::this_thread::sleep_for(700ms);
    ASSERT_TRUE(client.send(get_request("/target?after=idle") + get_request("/hello")));
    auto first = client.read_response();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "/target?after=idle");
    auto second = client.read_response();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "hello");
}

TEST_F(ServerTest, AFixedPortInUseIsRefused) {
    IoPool pool(1);
    Router router;
    ServerOptions options;
    options.port = port();
    Server second(pool, options, router);
    EXPECT_THROW(second.start(), std::system_error);
}

TEST_F(ServerTest, DrainFinishesInFlightRequestsWithConnectionClose) {
    probe_.slow_for = 400ms;
    RawClient idle(port());
    ASSERT_TRUE(idle.send(get_request("/hello")));
    ASSERT_TRUE(idle.read_response());

    RawClient busy(port());
    ASSERT_TRUE(busy.send(get_request("/slow")));
    for (int i = 0; i < 200 && probe_.slow_entered == 0; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(probe_.slow_entered, 1);

    auto started = std::chrono::steady_clock::now();
    std::thread drainer([&] { server_->server().drain(5s); });
    // The idle connection is closed at once, long before the slow request is done.
    EXPECT_TRUE(idle.wait_closed(300ms));

    auto r = busy.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "slow");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(busy.wait_closed(2s));
    drainer.join();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    EXPECT_EQ(server_->server().open_connections(), 0u);
    // Not accepting any more.
    EXPECT_EQ(testing::connect_to(port()), -1);
}

TEST_F(ServerTest, DrainForcesConnectionsClosedAtTheDeadline) {
    probe_.slow_for = 3s;
    RawClient busy(port());
    ASSERT_TRUE(busy.send(get_request("/slow")));
    for (int i = 0; i < 200 && probe_.slow_entered == 0; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(probe_.slow_entered, 1);
    auto started = std::chrono::steady_clock::now();
    server_->server().drain(200ms);
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, 1s);
    EXPECT_TRUE(busy.wait_closed(1s));
    EXPECT_TRUE(busy.pending().empty());  // never a partial response
}

class ServerIdleTest : public ServerTest {
  protected:
    static ServerLimits limits() {
        ServerLimits l;
        l.idle_timeout = 300ms;
        return l;
    }
    ServerIdleTest() : ServerTest(limits()) {}
};

TEST_F(ServerIdleTest, IdleKeepAliveConnectionsAreClosedAfterIdleTimeout) {
    RawClient client(port());
    ASSERT_TRUE(client.send(get_request("/hello")));
    ASSERT_TRUE(client.read_response());
    auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.wait_closed(2s));
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 1s);
    EXPECT_TRUE(client.pending().empty());  // closed silently: nothing had been asked
}

TEST(WireTest, HeadOf204And304CarriesNoBody) {
    Response no_content = Response::empty(204);
    no_content.body = "ignored";
    std::string out;
    EXPECT_FALSE(serialize_head(no_content, {}, out));
    EXPECT_EQ(out.find("Content-Length"), std::string::npos);

    Response not_modified = Response::empty(304);
    not_modified.headers.set("Content-Length", "42");
    not_modified.headers.set("ETag", "\"v1\"");
    out.clear();
    EXPECT_FALSE(serialize_head(not_modified, {}, out));
    EXPECT_NE(out.find("Content-Length: 42\r\n"), std::string::npos);
    EXPECT_NE(out.find("ETag: \"v1\"\r\n"), std::string::npos);
}

TEST(WireTest, HeadUsesTheHandlersContentLengthWhenTheBodyIsAlreadyGone) {
    Response r = Response::empty(200);
    r.headers.set("Content-Length", "1234");
    std::string out;
    HeadOptions options;
    options.head_request = true;
    EXPECT_FALSE(serialize_head(r, options, out));
    EXPECT_NE(out.find("Content-Length: 1234\r\n"), std::string::npos);
    EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(WireTest, FieldValuesWithControlCharactersAreDropped) {
    Response r = Response::empty(200);
    r.headers.set("X-Unit-Separator",
                  "a\x1f"
                  "b");
    r.headers.set("X-Delete", "a\x7f");
    r.headers.set("X-Tab", "a\tb");
    std::string out;
    serialize_head(r, {}, out);
    EXPECT_EQ(out.find("X-Unit-Separator"), std::string::npos);
    EXPECT_EQ(out.find("X-Delete"), std::string::npos);
    EXPECT_NE(out.find("X-Tab: a\tb\r\n"), std::string::npos);
}

TEST(WireTest, WantsCloseReadsTheConnectionTokenList) {
    Response r;
    EXPECT_FALSE(wants_close(r));
    r.headers.set("Connection", "keep-alive, Close");
    EXPECT_TRUE(wants_close(r));
    r.headers.set("Connection", "closed");
    EXPECT_FALSE(wants_close(r));
}

}  // namespace
}  // namespace olympus::http
