#include "app/runtime.hpp"

#include <atomic>
#include <csignal>
#include <memory>
#include <pthread.h>

#include "health/health.hpp"
#include "http/observability_middleware.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "tls/dev_certificate.hpp"

namespace olympus::app {

namespace {

http::ServerLimits limits_from(const CoreOptions& o) {
    http::ServerLimits limits;
    limits.body_bytes = o.max_body_bytes;
    limits.header_bytes = o.max_header_bytes;
    limits.header_count = o.max_header_count;
    limits.read_timeout = std::chrono::milliseconds(o.read_timeout_ms);
    limits.idle_timeout = std::chrono::milliseconds(o.idle_timeout_ms);
    limits.write_timeout = std::chrono::milliseconds(o.write_timeout_ms);
    return limits;
}

std::optional<http::TlsFiles> public_tls(const CoreOptions& o) {
    if (!o.tls) return std::nullopt;
    if (!o.tls_certificate.empty()) return http::TlsFiles{o.tls_certificate, o.tls_key};
    auto dev = tls::ensure_dev_certificate(o.data_dir + "/tls");
    log::info("using the development certificate; clients can trust its CA",
              {{"tls.server.x509.subject.common_name", "localhost"}, {"file.path", dev.ca_file}});
    return dev.files;
}

// Signals are blocked in every thread and taken synchronously by the main thread, so that no
// handler runs in an arbitrary thread at an arbitrary point.
sigset_t termination_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

// Saturation signals that live outside the registry: dropped log lines and open connections.
void register_runtime_metrics(metrics::Registry& registry, const http::Server& public_server) {
    auto& dropped =
        registry
            .counter("olympus_log_dropped_lines_total", "Log lines dropped because stdout could not keep up")
            .labels({});
    auto& connections =
        registry.gauge("http_server_open_connections", "Open connections on the public listener").labels({});
    auto reported = std::make_shared<std::atomic<std::uint64_t>>(0);
    registry.on_collect([&dropped, &connections, &public_server, reported] {
        std::uint64_t now = log::dropped_lines();
        dropped.inc(static_cast<double>(now - reported->exchange(now)));
        connections.set(static_cast<double>(public_server.open_connections()));
    });
}

void install_admin_routes(http::Router& admin, metrics::Registry& registry) {
    admin.get("/metrics", [&registry](http::RequestContext&) -> boost::asio::awaitable<http::Response> {
        co_return http::Response::text(200, registry.render(), "text/plain; version=0.0.4; charset=utf-8");
    });
}

}  // namespace

int serve(const CoreOptions& options, std::vector<std::unique_ptr<Service>> services) {
    sigset_t signals = termination_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    metrics::Registry registry;
    metrics::register_process_metrics(registry);
    health::Health health;
    http::IoPool io(options.threads);

    http::Router router;
    router.use(std::make_shared<http::ObservabilityMiddleware>(registry, options.access_log));
    health.install(router);
    http::Router admin;
    health.install(admin);
    install_admin_routes(admin, registry);

    ServiceContext context{options, router, health, registry, io};
    for (auto& service : services) {
        service->migrate(options);
        service->start(context);
        log::info("service started", {{"labels.service", service->name()}});
    }

    http::ServerOptions public_options;
    public_options.name = "public";
    public_options.address = options.address;
    public_options.port = options.port;
    public_options.tls = public_tls(options);
    public_options.limits = limits_from(options);
    auto public_server = std::make_unique<http::Server>(io, public_options, router);

    http::ServerOptions admin_options;
    admin_options.name = "admin";
    admin_options.address = options.admin_address;
    admin_options.port = options.admin_port;
    admin_options.limits = limits_from(options);
    auto admin_server = std::make_unique<http::Server>(io, admin_options, admin);

    register_runtime_metrics(registry, *public_server);
    public_server->start();
    admin_server->start();
    io.run();
    log::info("listening", {{"url.scheme", public_options.tls ? "https" : "http"},
                            {"server.address", options.address},
                            {"server.port", static_cast<std::int64_t>(public_server->port())},
                            {"labels.admin_port", static_cast<std::int64_t>(admin_server->port())},
                            {"labels.threads", static_cast<std::int64_t>(io.size())}});

    int received = 0;
    sigwait(&signals, &received);
    log::info("shutting down", {{"labels.signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});

    health.set_draining();
    auto deadline = std::chrono::milliseconds(options.drain_timeout_ms);
    public_server->drain(deadline);
    admin_server->drain(std::chrono::milliseconds(500));
    // Servers end their coroutines while the I/O threads still run, before anything they use goes.
    // The admin server goes first: its /metrics reads the public server's connection count.
    admin_server.reset();
    public_server.reset();
    for (auto it = services.rbegin(); it != services.rend(); ++it) (*it)->stop();
    io.stop();
    log::info("stopped");
    log::flush();
    return 0;
}

}  // namespace olympus::app
