#pragma once

// The outgoing HTTP/1.1 client: one upstream (a base URL) per Client, keep-alive connection pools,
// TLS with certificate and host-name verification, connect and request timeouts, retries with
// full-jitter exponential backoff for idempotent requests, and W3C traceparent propagation.
// Beast and Asio types stay in the .cpp files; callers see only options, Request and Response.
//
// Pooling: a connection is bound to the io_context it was opened on, so the client keeps one pool
// per io_context and picks it from the executor of the calling coroutine. With IoPool (one thread
// per io_context) a pool is only ever touched by its own thread: its mutex is never contended, and
// no connection moves between threads. Pools are created on first use from a given io_context, and
// emptied when that io_context shuts down.
//
// Retries (idempotent requests only, see ClientOptions::max_attempts): on connect failures and
// connect timeouts, when the connection closes before a single response byte, and on 502, 503 and
// 504. A 503's Retry-After is waited for when it is within backoff_max; a longer one returns the
// 503 at once. Request timeouts, TLS failures and malformed responses are never retried: the
// upstream may be acting on the request, or trying again cannot help. A non-idempotent request is
// never sent twice; a pooled connection the server has closed is found before use by a
// non-blocking peek, and an idempotent request lost on one is redone at once on a fresh connection.
//
// Errors: transport failures throw ClientError, which is a Problem (502 Bad Gateway, or 504
// Gateway Timeout for timeouts), so a handler that lets it escape answers the way a gateway should.
// Any HTTP status the upstream sends, 5xx included, is returned as a Response, not thrown.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "http/message.hpp"
#include "http/server.hpp"
#include "problem.hpp"

namespace olympus::trace {
struct TraceContext;
}

namespace olympus::http {

namespace detail {
struct ClientState;  // defined in client.cpp
}

struct ClientOptions {
    // "https://host[:port][/prefix]" or "http://127.0.0.1:port"; a path prefix is prepended to
    // every request target.
    std::string base_url{};
    // Verify the upstream against this CA bundle (PEM) instead of the system store.
    std::optional<std::string> ca_file{};
    // Presented to upstreams that ask for a client certificate (mutual TLS on /internal/**).
    std::optional<TlsFiles> client_certificate{};
    // Every hop that leaves a process is HTTPS: plain http is refused for hosts other than
    // loopback unless this is set (e.g. a sidecar proxy that terminates TLS on a pod network).
    bool allow_plain_http = false;

    // Resolving, TCP connect and the TLS handshake together, per connection attempt.
    std::chrono::milliseconds connect_timeout{2'000};
    // Writing the request and reading the whole response, per attempt.
    std::chrono::milliseconds request_timeout{10'000};

    // Idle keep-alive connections kept per io_context; more are closed when released.
    std::size_t max_idle_connections = 32;
    // An idle connection older than this is closed rather than reused: most servers drop idle
    // keep-alive connections after 60-75 s, so reusing one near that age races with its close.
    std::chrono::milliseconds idle_keepalive{30'000};

    // Attempts in total (1 = no retry). Only idempotent requests are retried: GET, HEAD, OPTIONS,
    // PUT, DELETE, and any request that carries an Idempotency-Key header.
    unsigned max_attempts = 3;
    // Full jitter: the n-th retry waits a uniform random time in [0, min(max, base * 2^(n-1))].
    std::chrono::milliseconds backoff_base{50};
    std::chrono::milliseconds backoff_max{1'000};

    // Bounds the memory one response may take; a larger one fails with ClientError::too_large.
    std::size_t max_response_bytes = 8 * 1024 * 1024;
    std::size_t max_response_header_bytes = 64 * 1024;

    // Sent when the request has no User-Agent of its own; empty: "olympus/<version>".
    std::string user_agent{};
};

class ClientError : public Problem {
  public:
    enum class Kind {
        invalid_request,  // the request cannot be sent as given (e.g. a malformed header)
        connect,          // resolve or TCP connect failed, or the peer closed before answering
        tls,              // the TLS handshake failed, certificate verification included
        timeout,          // connect_timeout or request_timeout elapsed
        protocol,         // the peer's answer is not valid HTTP/1.1
        too_large,        // the response exceeds max_response_bytes or max_response_header_bytes
    };

    ClientError(Kind kind, std::string detail);

    Kind kind() const { return kind_; }
    // "http client <kind>: <detail>", for logs.
    const char* what() const noexcept override { return message_.c_str(); }

  private:
    Kind kind_;
    std::string message_;
};

std::string_view to_string(ClientError::Kind kind);

class Client {
  public:
    // Throws std::invalid_argument when base_url is not a usable http(s) URL, when plain http
    // would leave the host, or when ca_file or client_certificate cannot be loaded.
    explicit Client(ClientOptions options);
    // Closes the idle connections. Requests still in flight keep the client's state alive until
    // they finish. A client may outlive the io_contexts it ran on: their shutdown closes the
    // connections bound to them. Do not destroy it while one of those contexts is shutting down.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Sends `request` (origin-form target, e.g. "/v1/users/42?x=1") to the upstream. With a trace
    // context, each attempt carries the traceparent of a new child span and the tracestate as is.
    // Must be awaited on an io_context executor. `trace` is read before this function returns.
    boost::asio::awaitable<Response> send(Request request, const trace::TraceContext* trace = nullptr);

    boost::asio::awaitable<Response> get(std::string target, const trace::TraceContext* trace = nullptr);
    boost::asio::awaitable<Response> post_json(std::string target, std::string body,
                                               const trace::TraceContext* trace = nullptr);

    const ClientOptions& options() const;
    // Idle pooled connections over every io_context, for gauges and tests.
    std::size_t idle_connections() const;

  private:
    std::shared_ptr<detail::ClientState> state_;
};

}  // namespace olympus::http
