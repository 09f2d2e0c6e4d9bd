#pragma once

// The options every Olympus process has, whatever services it hosts.

#include <chrono>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace olympus::app {

struct CoreOptions {
    // Public listener. Loopback by default: exposing it is a deliberate choice (0.0.0.0 in containers).
    std::string address = "127.0.0.1";
    std::uint16_t port = 8443;
    bool tls = true;
    std::string tls_certificate;  // PEM chain; empty: a development certificate under data_dir/tls
    std::string tls_key;          // PEM key
    // Metrics and probes on their own listener, never on the public door.
    std::string admin_address = "127.0.0.1";
    std::uint16_t admin_port = 9464;
    std::string data_dir = "data";
    unsigned threads = 0;  // 0: one per core
    std::string log_level = "info";
    bool access_log = true;
    std::size_t max_body_bytes = 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    std::size_t max_header_count = 100;
    unsigned read_timeout_ms = 10'000;
    unsigned idle_timeout_ms = 60'000;
    unsigned write_timeout_ms = 10'000;
    unsigned drain_timeout_ms = 10'000;
};

// Declares every core option on a command (flags, OLYMPUS_* variables, defaults, validation).
void add_core_options(CLI::App& command, CoreOptions& options);
// Only what `olympus migrate` needs.
void add_storage_options(CLI::App& command, CoreOptions& options);

}  // namespace olympus::app
