#pragma once

// Internal to the server: the state its listeners and connections share. Each shard is one
// io_context with its own acceptor (SO_REUSEPORT), its own list of connections and a sweeper that
// enforces every connection's deadline; a shard's list is touched only by that shard's thread, so
// the request path takes no lock.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/server.hpp"

namespace boost::asio::ssl {
class context;
}

namespace olympus::http::detail {

// What a connection is doing decides what its deadline means when the sweeper finds it passed.
enum class Phase : std::uint8_t {
    idle,       // waiting for the first byte of a request: idle_timeout, then closed silently
    handshake,  // TLS handshake: read_timeout, then closed
    reading,    // a request has started: read_timeout, then 408
    handling,   // the router has the request: no deadline of the server's
    writing,    // write_timeout, then closed
    closing,    // lingering after the last response: closed at the deadline
};

// Deadlines are kept to the sweeper's granularity, so the coarse clock (a memory read, no TSC)
// does: it is CLOCK_MONOTONIC as of the last tick, a few milliseconds behind at most.
inline std::chrono::steady_clock::time_point coarse_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                                 std::chrono::nanoseconds(ts.tv_nsec));
}

class ConnectionNode {
  public:
    virtual ~ConnectionNode() = default;
    // All three run on the connection's own thread.
    virtual void expire() = 0;          // the deadline of the current phase has passed
    virtual void close() = 0;           // drain or shutdown: close the socket now
    virtual void release_memory() = 0;  // idle for a sweep: give the read buffer back

    Phase phase = Phase::handling;
    bool memory_released = false;
    std::uint8_t idle_sweeps = 0;  // sweeps that found it idle since it last entered a phase
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    ConnectionNode* prev = nullptr;
    ConnectionNode* next = nullptr;
};

struct Shard {
    explicit Shard(boost::asio::io_context& context) : io(context), acceptor(context), sweeper(context) {}

    void link(ConnectionNode* node) {
        node->next = head;
        if (head) head->prev = node;
        head = node;
    }
    void unlink(ConnectionNode* node) {
        if (node->prev)
            node->prev->next = node->next;
        else
            head = node->next;
        if (node->next) node->next->prev = node->prev;
        node->prev = node->next = nullptr;
    }

    boost::asio::io_context& io;
    boost::asio::ip::tcp::acceptor acceptor;
    boost::asio::steady_timer sweeper;
    ConnectionNode* head = nullptr;
    bool stopping = false;
};

struct ServerState {
    ServerState(const Router& r, ServerOptions o) : router(r), options(std::move(o)) {}

    const Router& router;
    const ServerOptions options;
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::vector<std::unique_ptr<Shard>> shards;
    std::atomic<bool> draining{false};
    std::atomic<std::size_t> connections{0};
    // Coroutines still alive (accept loops, sweepers, connections): shutdown waits for zero.
    std::atomic<std::size_t> tasks{0};
};

// Serve one accepted socket on `shard` until it closes (connection_plain.cpp, connection_tls.cpp).
void spawn_plain_connection(const std::shared_ptr<ServerState>& state, Shard& shard,
                            boost::asio::ip::tcp::socket socket);
void spawn_tls_connection(const std::shared_ptr<ServerState>& state, Shard& shard,
                          boost::asio::ip::tcp::socket socket);

// How long a finished connection waits for the client to close before closing itself: long
// enough that the client reads the last response before our close could reset it.
inline std::chrono::milliseconds linger_time(const ServerLimits& limits) {
    return std::min(limits.read_timeout, std::chrono::milliseconds{2'000});
}

}  // namespace olympus::http::detail
