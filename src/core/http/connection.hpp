#pragma once

// Internal to the server: one HTTP/1.1 connection, the same code over plain TCP and over TLS.
// The flow reads top to bottom: wait for a request, read it, hand it to the router, write the
// response, repeat while keep-alive holds. Deadlines are kept by the shard's sweeper (see
// server_state.hpp) rather than by a timer per operation: it can cancel a slow read and still
// answer 408, and it costs the request path two clock reads instead of timer arms and cancels.
//
// Over plain TCP the socket is non-blocking and every read and write is first tried at once,
// synchronously; only when the kernel has nothing (would_block) does the coroutine wait for
// readiness. A keep-alive request then costs one readiness wait and no composed asynchronous
// operation. TLS keeps Beast's asynchronous operations: a synchronous SSL write that stopped
// half-way would lose the encrypted bytes it had produced.

#include <array>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http/request_parser.hpp"
#include "http/router.hpp"
#include "http/server_state.hpp"
#include "http/wire.hpp"
#include "log/log.hpp"
#include "problem.hpp"

namespace olympus::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

inline constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
// The first read of a request: enough for the request line and typical headers in one recv.
inline constexpr std::size_t kReadChunk = 4096;
inline constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

template <class Stream>
class Connection final : public ConnectionNode {
  public:
    static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

    Connection(std::shared_ptr<ServerState> state, Shard& shard, Stream stream, std::string remote_ip)
        : state_(std::move(state)), shard_(shard), stream_(std::move(stream)) {
        request_.remote_ip = std::move(remote_ip);
        if constexpr (!kTls) {
            boost::system::error_code ignored;
            stream_.non_blocking(true, ignored);
        }
        shard_.link(this);
        state_->connections.fetch_add(1, std::memory_order_relaxed);
    }

    ~Connection() override {
        boost::system::error_code ignored;
        socket().close(ignored);
        shard_.unlink(this);
        state_->connections.fetch_sub(1, std::memory_order_release);
        state_->tasks.fetch_sub(1, std::memory_order_release);
    }

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // The coroutine owns its connection: it lives exactly as long as the coroutine frame.
    static asio::awaitable<void> run(std::unique_ptr<Connection> self) { co_await self->serve(); }

    void expire() override {
        boost::system::error_code ignored;
        deadline = std::chrono::steady_clock::time_point::max();
        if (phase == Phase::reading) {
            // Cancel rather than close: the read returns and the client still gets its 408.
            timed_out_ = true;
            socket().cancel(ignored);
        } else if (phase != Phase::handling) {
            socket().close(ignored);
        }
    }

    void close() override {
        boost::system::error_code ignored;
        socket().close(ignored);
    }

    void release_memory() override {
        memory_released = true;
        std::string().swap(request_.body);
        std::string().swap(request_.target);
        std::string().swap(head_);
        request_.headers = Headers{};
        if constexpr (!kTls) {
            // The pending read holds the buffer: cancel it, and wait_for_request parks the
            // connection on a buffer-less readiness wait.
            park_ = true;
            boost::system::error_code ignored;
            stream_.cancel(ignored);
        }
    }

  private:
    tcp::socket& socket() {
        if constexpr (kTls) {
            return stream_.next_layer();
        } else {
            return stream_;
        }
    }

    void enter(Phase p, std::chrono::milliseconds timeout) {
        phase = p;
        idle_sweeps = 0;
        deadline = coarse_now() + timeout;
    }

    const ServerLimits& limits() const { return state_->options.limits; }

    asio::awaitable<void> serve();
    asio::awaitable<bool> wait_for_request();
    beast::error_code read_now(bool header_only);
    asio::awaitable<beast::error_code> read(bool header_only);
    std::array<asio::const_buffer, 2> prepare(const Response& response, bool keep_alive);
    bool write_now(const std::array<asio::const_buffer, 2>& buffers, std::size_t& written);
    asio::awaitable<bool> write_rest(const std::array<asio::const_buffer, 2>& buffers, std::size_t written);
    asio::awaitable<bool> send(const Response& response, bool keep_alive);
    asio::awaitable<void> fail(beast::error_code ec);
    asio::awaitable<void> finish();

    std::shared_ptr<ServerState> state_;
    Shard& shard_;
    Stream stream_;
    beast::flat_buffer buffer_;
    Request request_;
    std::optional<RequestParser> parser_;
    std::string head_;
    bool timed_out_ = false;
    bool park_ = false;
};

template <class Stream>
asio::awaitable<void> Connection<Stream>::serve() {
    if constexpr (kTls) {
        enter(Phase::handshake, limits().read_timeout);
        auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kUse);
        if (ec) co_return;  // not HTTP yet: nothing to answer
    }
    for (;;) {
        // Bytes left in the buffer are the next pipelined request: no waiting for it.
        if (buffer_.size() == 0 && !co_await wait_for_request()) co_return;

        // read_timeout covers the whole request from its first byte: a client dribbling its
        // header or body (slow-loris) is cut there however steadily it sends.
        enter(Phase::reading, limits().read_timeout);
        timed_out_ = false;
        memory_released = false;
        reset_request(request_);
        parser_.emplace(request_, limits().header_count);
        parser_->header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(limits().header_bytes, std::numeric_limits<std::uint32_t>::max())));
        parser_->body_limit(limits().body_bytes);
        if (buffer_.capacity() == 0) buffer_.reserve(kReadChunk);

        // A Content-Length above body_bytes fails here, before any of the body is read.
        beast::error_code ec = read_now(true);
        if (ec == asio::error::would_block) ec = co_await read(true);
        if (!ec && !parser_->is_done()) {
            if (parser_->expects_continue() && parser_->version() >= 11) {
                auto [wec, wn] = co_await asio::async_write(stream_, asio::buffer(kContinue), kUse);
                if (wec) co_return;
            }
            ec = read_now(false);
            if (ec == asio::error::would_block) ec = co_await read(false);
        }
        if (ec) {
            co_await fail(ec);
            co_return;
        }

        phase = Phase::handling;
        Response response;
        try {
            RequestContext ctx(request_);
            response = co_await state_->router.dispatch(ctx);
        } catch (const std::exception& e) {
            // Router::dispatch answers every exception itself; this is the last line of defence.
            log::error("http handler escaped the router", {{"error.message", e.what()}});
            response = Problem::internal().to_response();
        }
        if (response.status < 200 || response.status > 599) {
            log::error("http handler returned an invalid status",
                       {{"http.response.status_code", response.status}});
            response = Problem::internal().to_response();
        }

        const bool keep_alive = request_.keep_alive && !wants_close(response) &&
                                !state_->draining.load(std::memory_order_relaxed);
        const auto buffers = prepare(response, keep_alive);
        std::size_t written = 0;
        if (!write_now(buffers, written)) co_return;
        if (written < asio::buffer_size(buffers) && !co_await write_rest(buffers, written)) co_return;
        if (!keep_alive) {
            co_await finish();
            co_return;
        }
    }
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::wait_for_request() {
    if (state_->draining.load(std::memory_order_relaxed)) co_return false;
    enter(Phase::idle, limits().idle_timeout);
    if constexpr (kTls) {
        // Readiness of the socket says nothing about decrypted data (OpenSSL may hold a whole
        // record already), so a TLS connection waits by reading.
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kUse);
        if (ec) co_return false;
        buffer_.commit(n);
        co_return true;
    } else {
        // A busy connection waits by reading: Asio tries the recv at once and, when nothing is
        // there, waits for the next readiness edge without another system call. A connection
        // idle for a whole sweep is parked instead (see release_memory): its buffer is freed and
        // it waits for readiness alone, at the price of an epoll_ctl when it wakes.
        park_ = false;
        for (;;) {
            if (!park_) {
                auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kUse);
                if (!ec) {
                    buffer_.commit(n);
                    co_return true;
                }
                if (ec != asio::error::operation_aborted || !park_ || !stream_.is_open()) co_return false;
                buffer_.shrink_to_fit();
            } else {
                auto [ec] = co_await stream_.async_wait(tcp::socket::wait_read, kUse);
                if (ec) co_return false;
                park_ = false;
            }
        }
    }
}

// Over plain TCP: parses what is buffered and reads what the socket has, without waiting. Beast's
// synchronous read returns would_block having consumed nothing it cannot resume from. Over TLS
// there is no such attempt: would_block says "use read()".
template <class Stream>
beast::error_code Connection<Stream>::read_now(bool header_only) {
    beast::error_code ec;
    if constexpr (kTls) {
        ec = asio::error::would_block;
    } else if (header_only) {
        beast::http::read_header(stream_, buffer_, *parser_, ec);
    } else {
        beast::http::read(stream_, buffer_, *parser_, ec);
    }
    return ec;
}

template <class Stream>
asio::awaitable<beast::error_code> Connection<Stream>::read(bool header_only) {
    beast::error_code ec;
    if constexpr (kTls) {
        std::size_t n = 0;
        if (header_only) {
            std::tie(ec, n) = co_await beast::http::async_read_header(stream_, buffer_, *parser_, kUse);
        } else {
            std::tie(ec, n) = co_await beast::http::async_read(stream_, buffer_, *parser_, kUse);
        }
    } else {
        do {
            auto [wec] = co_await stream_.async_wait(tcp::socket::wait_read, kUse);
            if (wec) co_return wec;
            ec = read_now(header_only);
        } while (ec == asio::error::would_block);
    }
    co_return ec;
}

// Serialises the head into head_ and starts the write deadline.
template <class Stream>
std::array<asio::const_buffer, 2> Connection<Stream>::prepare(const Response& response, bool keep_alive) {
    head_.clear();
    HeadOptions options;
    options.head_request = request_.method == Method::head;
    options.keep_alive = keep_alive;
    options.http10 = parser_ && parser_->version() == 10;
    const bool with_body = serialize_head(response, options, head_);
    enter(Phase::writing, limits().write_timeout);
    return {asio::buffer(head_), with_body ? asio::buffer(response.body) : asio::const_buffer()};
}

// Over plain TCP the whole response usually fits the socket buffer and leaves in this one call.
// False on a broken connection; `written` tells how much is left for write_rest().
template <class Stream>
bool Connection<Stream>::write_now(const std::array<asio::const_buffer, 2>& buffers, std::size_t& written) {
    written = 0;
    if constexpr (!kTls) {
        boost::system::error_code ec;
        written = stream_.write_some(buffers, ec);
        if (ec && ec != asio::error::would_block) return false;
    }
    return true;
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::write_rest(const std::array<asio::const_buffer, 2>& buffers,
                                                     std::size_t written) {
    beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(buffers);
    rest.consume(written);
    auto [ec, n] = co_await asio::async_write(stream_, rest, kUse);
    co_return !ec;
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::send(const Response& response, bool keep_alive) {
    const auto buffers = prepare(response, keep_alive);
    std::size_t written = 0;
    if (!write_now(buffers, written)) co_return false;
    co_return written == asio::buffer_size(buffers) || co_await write_rest(buffers, written);
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::fail(beast::error_code ec) {
    using error = beast::http::error;
    int status = 0;
    std::string detail;
    switch (parser_->fault()) {
        case RequestFault::too_many_fields:
            status = 431;
            detail = "more than " + std::to_string(limits().header_count) + " header fields";
            break;
        case RequestFault::unsupported_coding:
            status = 501;
            detail = "only the chunked transfer coding is supported";
            break;
        case RequestFault::bad_framing:
            status = 400;
            detail = "the request's Transfer-Encoding is invalid";
            break;
        case RequestFault::missing_host:
            status = 400;
            detail = "an HTTP/1.1 request needs exactly one Host field";
            break;
        case RequestFault::none:
            if (ec == error::header_limit || ec == error::buffer_overflow) {
                status = 431;
                detail =
                    "the request header is larger than " + std::to_string(limits().header_bytes) + " bytes";
            } else if (ec == error::bad_version &&
                       other_http_version(std::string_view(static_cast<const char*>(buffer_.data().data()),
                                                           buffer_.size()))) {
                status = 505;
                detail = "only HTTP/1.0 and HTTP/1.1 are served";
            } else if (ec == error::body_limit) {
                status = 413;
                detail = "the request body is larger than " + std::to_string(limits().body_bytes) + " bytes";
            } else if (ec == asio::error::operation_aborted && timed_out_) {
                status = 408;
                detail = "the request did not arrive within " +
                         std::to_string(limits().read_timeout.count()) + " ms";
            } else if (ec == error::end_of_stream || ec == error::partial_message) {
                status = 0;  // the client went away, before or within a request
            } else if (&ec.category() == &beast::http::make_error_code(error::bad_method).category()) {
                status = 400;
                detail = "malformed request: " + ec.message();
            }
            break;
    }
    if (status == 0) co_return;  // transport failures have no one to answer
    Response response = Problem(status, std::string(reason_phrase(status)), std::move(detail)).to_response();
    if (co_await send(response, false)) co_await finish();
}

template <class Stream>
asio::awaitable<void> Connection<Stream>::finish() {
    // Closing with unread request bytes would make the kernel reset the connection, and a reset
    // can destroy the response before the client reads it. So: say we are done, then drain what
    // the client still sends until it closes or linger_time passes.
    enter(Phase::closing, linger_time(limits()));
    if constexpr (kTls) {
        auto [ec] = co_await stream_.async_shutdown(kUse);
    } else {
        boost::system::error_code ec;
        stream_.shutdown(tcp::socket::shutdown_send, ec);
        while (!ec) {
            auto [rec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kUse);
            ec = rec;
        }
    }
}

// Starts the coroutine of one accepted socket on its shard's thread.
template <class Stream>
void spawn_connection(const std::shared_ptr<ServerState>& state, Shard& shard, Stream stream,
                      std::string remote_ip) {
    state->tasks.fetch_add(1, std::memory_order_relaxed);
    auto connection =
        std::make_unique<Connection<Stream>>(state, shard, std::move(stream), std::move(remote_ip));
    asio::co_spawn(shard.io, Connection<Stream>::run(std::move(connection)), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("http connection failed", {{"error.message", ex.what()}});
        } catch (...) {
            log::error("http connection failed");
        }
    });
}

inline std::string remote_ip_of(const tcp::socket& socket) {
    boost::system::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string() : endpoint.address().to_string();
}

}  // namespace olympus::http::detail
