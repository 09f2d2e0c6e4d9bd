#include "app/core_options.hpp"

#include "config/options.hpp"

namespace olympus::app {

void add_storage_options(CLI::App& command, CoreOptions& o) {
    config::option(command, "--data-dir", o.data_dir,
                   "Directory for embedded databases, keys and dev certificates");
}

void add_core_options(CLI::App& command, CoreOptions& o) {
    using config::flag;
    using config::option;
    option(command, "--address", o.address, "Public listener address");
    option(command, "--port", o.port, "Public listener port")->check(CLI::Range(0, 65535));
    flag(command, "--tls", o.tls, "Serve HTTPS on the public listener (plain HTTP only for loopback use)");
    option(command, "--tls-cert", o.tls_certificate,
           "PEM certificate chain; empty: generated development cert")
        ->check(CLI::ExistingFile);
    option(command, "--tls-key", o.tls_key, "PEM private key matching --tls-cert")->check(CLI::ExistingFile);
    option(command, "--admin-address", o.admin_address, "Metrics and health listener address");
    option(command, "--admin-port", o.admin_port, "Metrics and health listener port")
        ->check(CLI::Range(0, 65535));
    add_storage_options(command, o);
    option(command, "--threads", o.threads, "I/O threads; 0 means one per core")->check(CLI::Range(0u, 256u));
    option(command, "--log-level", o.log_level, "Minimum log level")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    flag(command, "--access-log", o.access_log, "Write one access-log line per request");
    option(command, "--max-body-bytes", o.max_body_bytes, "Largest request body accepted (413 above)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    option(command, "--max-header-bytes", o.max_header_bytes,
           "Largest request header block accepted (431 above)")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20));
    option(command, "--max-header-count", o.max_header_count, "Most header fields accepted (431 above)")
        ->check(CLI::Range(std::size_t{8}, std::size_t{10'000}));
    option(command, "--read-timeout-ms", o.read_timeout_ms, "Time allowed to receive a whole request")
        ->check(CLI::Range(100u, 600'000u));
    option(command, "--idle-timeout-ms", o.idle_timeout_ms, "Keep-alive connection idle time before closing")
        ->check(CLI::Range(100u, 3'600'000u));
    option(command, "--write-timeout-ms", o.write_timeout_ms, "Time allowed to send a response")
        ->check(CLI::Range(100u, 600'000u));
    option(command, "--drain-timeout-ms", o.drain_timeout_ms,
           "On SIGTERM, how long in-flight requests may finish")
        ->check(CLI::Range(0u, 600'000u));
    // A certificate without its key (or the reverse) is a configuration mistake, not a default.
    command.get_option("--tls-cert")->needs(command.get_option("--tls-key"));
    command.get_option("--tls-key")->needs(command.get_option("--tls-cert"));
}

}  // namespace olympus::app
