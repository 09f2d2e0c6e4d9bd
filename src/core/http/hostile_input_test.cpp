// The server facing malformed, oversized and slow requests: every case gets a clear problem (or a
// silent close when nobody is left to answer), never a crash or a partial response, and a
// well-formed client on another connection keeps being served meanwhile.

#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "http/router.hpp"
#include "http/server.hpp"
#include "http/server_test_support.hpp"

namespace olympus::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::get_request;
using testing::RawClient;
using testing::RawResponse;
using testing::TestServer;

constexpr std::size_t kHeaderBytes = 1024;
constexpr std::size_t kHeaderCount = 10;
constexpr std::size_t kBodyBytes = 1024;

ServerOptions small_limits() {
    ServerOptions options;
    options.name = "hostile";
    options.limits.header_bytes = kHeaderBytes;
    options.limits.header_count = kHeaderCount;
    options.limits.body_bytes = kBodyBytes;
    options.limits.read_timeout = 1s;
    options.limits.idle_timeout = 5s;
    options.limits.write_timeout = 1s;
    return options;
}

class HostileInputTest : public ::testing::Test {
  protected:
    HostileInputTest()
        : server_(small_limits(), [](Router& router) {
              router.get("/ok", [](RequestContext&) -> asio::awaitable<Response> {
                  co_return Response::text(200, "ok");
              });
              router.post("/echo", [](RequestContext& ctx) -> asio::awaitable<Response> {
                  co_return Response::text(200, ctx.request.body);
              });
          }) {
        healthy_ = std::make_unique<RawClient>(server_.port());
        expect_healthy();
    }

    // The well-formed client on its own keep-alive connection still gets its answers.
    void expect_healthy() {
        ASSERT_TRUE(healthy_->send(get_request("/ok")));
        auto r = healthy_->read_response(false, 2s);
        ASSERT_TRUE(r) << "the well-formed client was not served";
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "ok");
    }

    // Sends `bytes` on a fresh connection and expects one problem response, then the close.
    void expect_problem(const std::string& bytes, int status) {
        RawClient client(server_.port());
        client.send(bytes);
        expect_healthy();
        auto r = client.read_response();
        ASSERT_TRUE(r) << "no response to a hostile request";
        expect_problem_response(*r, status);
        EXPECT_TRUE(client.wait_closed(2s));
        EXPECT_TRUE(client.pending().empty()) << "bytes after the problem response";
    }

    static void expect_problem_response(const RawResponse& r, int status) {
        EXPECT_EQ(r.status, status) << r.status_line << "\n" << r.body;
        EXPECT_EQ(r.header("content-type"), "application/problem+json");
        EXPECT_EQ(r.header("connection"), "close");
        EXPECT_NE(r.body.find("\"status\":" + std::to_string(status)), std::string::npos) << r.body;
    }

    TestServer server_;
    std::unique_ptr<RawClient> healthy_;
};

TEST_F(HostileInputTest, MalformedRequestLineIs400) {
    expect_problem("GET\r\n\r\n", 400);
    expect_problem("GET /ok HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400);
    expect_problem("G@T /ok HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    expect_problem("GET /ok HTTP/x.1\r\nHost: x\r\n\r\n", 400);
}

TEST_F(HostileInputTest, BinaryGarbageIs400) {
    std::string garbage;
    for (int i = 0; i < 64; ++i) garbage += static_cast<char>((i * 37) & 0xff);
    expect_problem(garbage + "\r\n\r\n", 400);
}

TEST_F(HostileInputTest, UnsupportedHttpVersionIs505) {
    expect_problem("GET /ok HTTP/2.0\r\nHost: x\r\n\r\n", 505);
}

TEST_F(HostileInputTest, MissingHostOnHttp11Is400) {
    expect_problem("GET /ok HTTP/1.1\r\n\r\n", 400);
    expect_problem("GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

TEST_F(HostileInputTest, OversizedHeaderIs431) {
    expect_problem(get_request("/ok", "X-Big: " + std::string(2 * kHeaderBytes, 'a') + "\r\n"), 431);
}

TEST_F(HostileInputTest, TooManyHeaderFieldsIs431) {
    std::string fields;
    for (std::size_t i = 0; i < kHeaderCount + 5; ++i) fields += "X-F" + std::to_string(i) + ": v\r\n";
    expect_problem(get_request("/ok", fields), 431);
}

TEST_F(HostileInputTest, HeaderFieldsUpToTheLimitAreServed) {
    std::string fields;
    for (std::size_t i = 0; i + 1 < kHeaderCount; ++i) fields += "X-F" + std::to_string(i) + ": v\r\n";
    RawClient client(server_.port());
    ASSERT_TRUE(client.send(get_request("/ok", fields)));  // Host plus nine
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HostileInputTest, OversizedBodyByContentLengthIs413BeforeTheBodyIsSent) {
    RawClient client(server_.port());
    ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
    // No body sent: the answer must come from the header alone, well before the read timeout.
    auto started = std::chrono::steady_clock::now();
    auto r = client.read_response(false, 900ms);
    ASSERT_TRUE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 900ms);
    expect_problem_response(*r, 413);
    EXPECT_TRUE(client.wait_closed(2s));
    expect_healthy();
}

TEST_F(HostileInputTest, OversizedBodyWithTheBodySentStillGets413) {
    // The client sends everything before reading: the server must not reset the connection under
    // its own 413.
    RawClient client(server_.port());
    ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" +
                            std::string(60000, 'b')));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    expect_problem_response(*r, 413);
}

TEST_F(HostileInputTest, OversizedChunkedBodyIs413) {
    std::string chunk(800, 'c');
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
                       "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n",
                   413);
}

TEST_F(HostileInputTest, BytesBeyondAShortContentLengthAreParsedAsTheNextRequest) {
    RawClient client(server_.port());
    ASSERT_TRUE(client.send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloSMUGGLED / HTTP/1.1\r\n\r\n"));
    auto first = client.read_response();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "hello");
    auto second = client.read_response();
    ASSERT_TRUE(second);
    expect_problem_response(*second, 400);
    EXPECT_TRUE(client.wait_closed(2s));
    expect_healthy();
}

TEST_F(HostileInputTest, BodyShorterThanItsContentLengthTimesOutWith408) {
    RawClient client(server_.port());
    ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little"));
    expect_healthy();
    auto r = client.read_response(false, 3s);
    ASSERT_TRUE(r);
    expect_problem_response(*r, 408);
}

TEST_F(HostileInputTest, BadChunkedEncodingIs400) {
    expect_problem(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400);
    expect_problem(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400);
}

TEST_F(HostileInputTest, ContentLengthWithTransferEncodingIs400) {
    expect_problem(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
        "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400);
    expect_problem(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: "
        "5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400);
}

TEST_F(HostileInputTest, ConflictingOrMalformedContentLengthIs400) {
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                   400);
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello", 400);
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello", 400);
}

TEST_F(HostileInputTest, TransferCodingsOtherThanChunkedAreRefused) {
    // chunked not last: the body cannot be delimited (RFC 9112 §6.3).
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    expect_problem("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                   501);
    expect_problem("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

TEST_F(HostileInputTest, ControlCharactersInHeadersAre400) {
    expect_problem(std::string("GET /ok HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n", 40), 400);
    expect_problem("GET /ok HTTP/1.1\r\nHost: x\r\nX-Bad : a\r\n\r\n", 400);
}

TEST_F(HostileInputTest, SlowLorisIsCutAtTheReadTimeout) {
    RawClient client(server_.port());
    const std::string request = get_request("/ok", "X-Slow: " + std::string(40, 's') + "\r\n");
    auto started = std::chrono::steady_clock::now();
    bool closed = false;
    // One byte every 200 ms: the whole request would take ~15 s, the read timeout is 1 s.
    for (std::size_t i = 0; i < request.size() && !closed; ++i) {
        if (!client.send(std::string_view(&request[i], 1))) break;
        if (i == 3) expect_healthy();
        closed = client.wait_closed(200ms);
    }
    if (!closed) closed = client.wait_closed(1s);
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(closed);
    EXPECT_LT(took, 1600ms);
    EXPECT_GE(took, 900ms);
    // A 408 when anything was said at all.
    if (!client.pending().empty()) {
        auto r = client.read_response(false, 100ms);
        ASSERT_TRUE(r);
        expect_problem_response(*r, 408);
    }
    expect_healthy();
}

TEST_F(HostileInputTest, ClientVanishingMidRequestLeavesTheServerServing) {
    {
        RawClient client(server_.port());
        ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
    }
    {
        RawClient client(server_.port());
        ASSERT_TRUE(client.send("GET /ok HTT"));
    }
    expect_healthy();
    for (int i = 0; i < 100 && server_.server().open_connections() != 1; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(server_.server().open_connections(), 1u);  // the healthy client only
}

TEST_F(HostileInputTest, ManyHostileConnectionsAtOnceDoNotStarveOthers) {
    std::vector<std::unique_ptr<RawClient>> attackers;
    for (int i = 0; i < 100; ++i) {
        attackers.push_back(std::make_unique<RawClient>(server_.port()));
        attackers.back()->send("GET /ok HTTP/1.1\r\nHost: x\r\nX-Half: ");
    }
    expect_healthy();
    RawClient fresh(server_.port());
    ASSERT_TRUE(fresh.send(get_request("/ok")));
    auto r = fresh.read_response(false, 2s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace olympus::http
