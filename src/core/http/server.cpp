#include "http/server.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <sys/socket.h>
#include <system_error>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "http/server_state.hpp"
#include "log/log.hpp"
#include "tls/context.hpp"

namespace olympus::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::ServerState;
using detail::Shard;

// ---------------------------------------------------------------------------------------------
// IoPool

struct IoPool::Impl {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
};

IoPool::IoPool(unsigned threads) : impl_(std::make_unique<Impl>()) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) {
        // One thread per context: the hint lets Asio skip work it does for shared contexts.
        impl_->contexts.push_back(std::make_unique<asio::io_context>(1));
    }
}

IoPool::~IoPool() {
    stop();
}

unsigned IoPool::size() const {
    return static_cast<unsigned>(impl_->contexts.size());
}

void IoPool::run() {
    if (!impl_->threads.empty()) return;
    for (auto& context : impl_->contexts) {
        context->restart();
        impl_->guards.push_back(asio::make_work_guard(*context));
    }
    for (auto& context : impl_->contexts) {
        impl_->threads.emplace_back([io = context.get()] {
            // A handler that throws must not take the whole event loop down with it.
            for (;;) {
                try {
                    io->run();
                    return;
                } catch (const std::exception& e) {
                    log::error("event loop handler threw", {{"error.message", e.what()}});
                } catch (...) {
                    log::error("event loop handler threw");
                }
            }
        });
    }
}

void IoPool::stop() {
    impl_->guards.clear();
    for (auto& context : impl_->contexts) context->stop();
    for (auto& thread : impl_->threads) {
        if (thread.joinable()) thread.join();
    }
    impl_->threads.clear();
}

bool IoPool::running() const {
    return !impl_->threads.empty();
}

void* IoPool::context(unsigned i) const {
    return impl_->contexts.at(i).get();
}

// ---------------------------------------------------------------------------------------------
// Server

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
// Connections waiting in the kernel for accept(); bursts of new clients queue instead of failing.
constexpr int kBacklog = 4096;

// The sweeper's period: a fraction of the shortest timeout, so deadlines hold within ~1/8 of it.
std::chrono::milliseconds sweep_period(const ServerLimits& limits) {
    auto shortest = std::min({limits.read_timeout, limits.idle_timeout, limits.write_timeout});
    return std::clamp(shortest / 8, std::chrono::milliseconds{10}, std::chrono::milliseconds{250});
}

void log_exception(std::exception_ptr e, std::string_view what) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        log::error(what, {{"error.message", ex.what()}});
    } catch (...) {
        log::error(what);
    }
}

asio::awaitable<void> accept_loop(std::shared_ptr<ServerState> state, Shard& shard) {
    std::optional<asio::steady_timer> backoff;
    for (;;) {
        auto [ec, socket] = co_await shard.acceptor.async_accept(kUse);
        if (ec) {
            if (ec == asio::error::operation_aborted || !shard.acceptor.is_open() || shard.stopping) break;
            // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS): retrying at once would spin.
            log::warn("http accept failed",
                      {{"error.message", ec.message()}, {"service.name", state->options.name}});
            if (!backoff) backoff.emplace(shard.io);
            backoff->expires_after(std::chrono::milliseconds{50});
            co_await backoff->async_wait(kUse);
            continue;
        }
        boost::system::error_code ignored;
        // Responses go out in one write; Nagle would only hold back its tail.
        socket.set_option(tcp::no_delay(true), ignored);
        if (state->tls) {
            detail::spawn_tls_connection(state, shard, std::move(socket));
        } else {
            detail::spawn_plain_connection(state, shard, std::move(socket));
        }
    }
    state->tasks.fetch_sub(1, std::memory_order_release);
}

// Enforces the deadlines of the shard's connections and frees the buffers of idle ones.
asio::awaitable<void> sweep_loop(std::shared_ptr<ServerState> state, Shard& shard) {
    const auto period = sweep_period(state->options.limits);
    for (;;) {
        shard.sweeper.expires_after(period);
        auto [ec] = co_await shard.sweeper.async_wait(kUse);
        if (ec || shard.stopping) break;
        const auto now = detail::coarse_now();
        // expire() and close() only cancel operations; no connection leaves the list during the walk.
        for (detail::ConnectionNode* node = shard.head; node != nullptr; node = node->next) {
            if (node->deadline <= now) {
                node->expire();
            } else if (node->phase == detail::Phase::idle && !node->memory_released &&
                       ++node->idle_sweeps >= 2) {
                // Idle for at least a whole period: not merely between two requests.
                node->release_memory();
            }
        }
    }
    state->tasks.fetch_sub(1, std::memory_order_release);
}

// Closes the acceptor; with `everything`, also every connection and the sweeper (shutdown),
// otherwise only the idle connections (drain). Runs on the shard's thread.
void stop_shard(Shard& shard, bool everything) {
    boost::system::error_code ignored;
    shard.acceptor.close(ignored);
    for (detail::ConnectionNode* node = shard.head; node != nullptr; node = node->next) {
        if (everything || node->phase == detail::Phase::idle) node->close();
    }
    if (everything) {
        shard.stopping = true;
        shard.sweeper.cancel();
    }
}

// SO_REUSEPORT lets every shard listen on the same port, and the kernel spreads new connections
// over them. It also lets another process of the same user join the group silently, so a fixed
// port is first probed with an ordinary bind: it fails if anyone listens there already.
void probe_port(const tcp::endpoint& endpoint, const std::string& name) {
    asio::io_context io;
    tcp::acceptor probe(io);
    boost::system::error_code ec;
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) {
        throw std::system_error(ec, "http server '" + name + "': cannot bind " +
                                        endpoint.address().to_string() + ":" +
                                        std::to_string(endpoint.port()));
    }
}

}  // namespace

struct Server::Impl {
    IoPool& pool;
    std::shared_ptr<ServerState> state;
    std::uint16_t port = 0;
    bool started = false;

    asio::io_context& io(unsigned i) const { return *static_cast<asio::io_context*>(pool.context(i)); }

    // Waits until `done` holds or `until` passes; true when it holds.
    template <class Done>
    static bool wait_until(std::chrono::steady_clock::time_point until, Done done) {
        while (!done()) {
            if (std::chrono::steady_clock::now() >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds{2});
        }
        return true;
    }

    void post_to_shards(bool everything) {
        for (auto& shard : state->shards) {
            asio::post(shard->io, [s = state, sh = shard.get(), everything] { stop_shard(*sh, everything); });
        }
    }

    bool on_pool_thread() const {
        for (unsigned i = 0; i < pool.size(); ++i) {
            if (io(i).get_executor().running_in_this_thread()) return true;
        }
        return false;
    }
};

Server::Server(IoPool& pool, ServerOptions options, const Router& router)
    : impl_(std::make_unique<Impl>(
          Impl{pool, std::make_shared<ServerState>(router, std::move(options)), 0, false})) {}

Server::~Server() {
    if (!impl_->started) return;
    impl_->state->draining.store(true);
    impl_->post_to_shards(true);
    // Coroutines hold the shared state, so memory stays valid either way; waiting makes sure no
    // handler still runs on the router, which the caller may destroy next.
    if (impl_->pool.running() && !impl_->on_pool_thread()) {
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
        if (!Impl::wait_until(until,
                              [&] { return impl_->state->tasks.load(std::memory_order_acquire) == 0; })) {
            log::warn("http server stopped with handlers still running",
                      {{"service.name", impl_->state->options.name}});
        }
    }
}

void Server::start() {
    if (impl_->started)
        throw std::logic_error("http server '" + impl_->state->options.name + "' started twice");
    ServerState& state = *impl_->state;
    const ServerOptions& options = state.options;
    if (options.tls) state.tls = tls::make_server_context(*options.tls);

    boost::system::error_code ec;
    auto address = asio::ip::make_address(options.address, ec);
    if (ec)
        throw std::system_error(ec,
                                "http server '" + options.name + "': bad address '" + options.address + "'");
    std::uint16_t port = options.port;
    if (port != 0) probe_port(tcp::endpoint(address, port), options.name);

    std::vector<std::unique_ptr<Shard>> shards;
    for (unsigned i = 0; i < impl_->pool.size(); ++i) {
        auto shard = std::make_unique<Shard>(impl_->io(i));
        tcp::endpoint endpoint(address, port);
        auto& acceptor = shard->acceptor;
        acceptor.open(endpoint.protocol(), ec);
        if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec)
            acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
        if (!ec) acceptor.bind(endpoint, ec);
        if (!ec) acceptor.listen(kBacklog, ec);
        if (ec) {
            throw std::system_error(ec, "http server '" + options.name + "': cannot listen on " +
                                            options.address + ":" + std::to_string(port));
        }
        // Port 0: the first bind picks a free port and every other shard joins it.
        if (port == 0) port = acceptor.local_endpoint().port();
        shards.push_back(std::move(shard));
    }
    state.shards = std::move(shards);
    impl_->port = port;
    impl_->started = true;

    for (auto& shard : state.shards) {
        state.tasks.fetch_add(2, std::memory_order_relaxed);
        asio::co_spawn(shard->io, accept_loop(impl_->state, *shard),
                       [](std::exception_ptr e) { log_exception(e, "http accept loop failed"); });
        asio::co_spawn(shard->io, sweep_loop(impl_->state, *shard),
                       [](std::exception_ptr e) { log_exception(e, "http sweeper failed"); });
    }
}

std::uint16_t Server::port() const {
    return impl_->port;
}

const ServerOptions& Server::options() const {
    return impl_->state->options;
}

void Server::drain(std::chrono::milliseconds deadline) {
    if (!impl_->started) return;
    const auto until = std::chrono::steady_clock::now() + deadline;
    auto& state = *impl_->state;
    state.draining.store(true);
    impl_->post_to_shards(false);
    auto none_left = [&] { return state.connections.load(std::memory_order_acquire) == 0; };
    if (Impl::wait_until(until, none_left)) return;
    // Past the deadline: close what is left, and give the closed connections a moment to unwind.
    impl_->post_to_shards(true);
    Impl::wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds{200}, none_left);
}

std::size_t Server::open_connections() const {
    return impl_->state->connections.load(std::memory_order_relaxed);
}

}  // namespace olympus::http
