#pragma once

// The HTTP/1.1 server: Beast + Asio with C++20 coroutines, one io_context per thread, one
// SO_REUSEPORT acceptor per thread, optional TLS 1.2/1.3. All Beast and Asio types stay in the
// .cpp files; callers see only options, a router and start/stop.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace olympus::http {

class Router;

struct ServerLimits {
    // Large enough for a JWT and a handful of cookies, small enough to bound memory per connection.
    std::size_t header_bytes = 16 * 1024;
    std::size_t header_count = 100;
    std::size_t body_bytes = 1024 * 1024;
    // The whole request (headers and body) must arrive within this time: defeats slow-loris.
    std::chrono::milliseconds read_timeout{10'000};
    // A keep-alive connection waiting for its next request is closed after this.
    std::chrono::milliseconds idle_timeout{60'000};
    // A client that does not read its response within this time is dropped.
    std::chrono::milliseconds write_timeout{10'000};
};

struct TlsFiles {
    std::string certificate_chain;  // PEM
    std::string private_key;        // PEM
};

struct ServerOptions {
    std::string name = "http";  // for logs: which listener this is
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0 picks a free port (see Server::port)
    std::optional<TlsFiles> tls;
    ServerLimits limits;
};

// Shared event-loop threads that every server of the process runs on.
class IoPool {
  public:
    explicit IoPool(unsigned threads = 0);  // 0: one per core
    ~IoPool();
    IoPool(const IoPool&) = delete;
    IoPool& operator=(const IoPool&) = delete;

    unsigned size() const;
    void run();   // starts the threads (returns at once)
    void stop();  // stops the loops and joins the threads
    bool running() const;
    // The io_context of thread i, as an opaque pointer for the .cpp files that know Asio.
    void* context(unsigned i) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class Server {
  public:
    // The router must outlive the server.
    Server(IoPool& pool, ServerOptions options, const Router& router);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and starts accepting; throws std::system_error when the address cannot be bound (a
    // fixed port already in use included) and std::runtime_error when the TLS files cannot be loaded.
    void start();
    std::uint16_t port() const;  // the bound port
    const ServerOptions& options() const;
    // Stops accepting, lets in-flight requests finish (answering with Connection: close), closes
    // idle connections at once, and forces the rest closed after `deadline`. Blocks until every
    // connection is gone or the deadline has passed. Call it from outside the pool's threads.
    void drain(std::chrono::milliseconds deadline);
    std::size_t open_connections() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace olympus::http
