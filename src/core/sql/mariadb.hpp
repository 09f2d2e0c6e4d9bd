#pragma once

// The MariaDB/MySQL adapter of the SQL port, on MariaDB Connector/C. Every statement is a
// server-side prepared statement (values never enter SQL text); the only plain queries are fixed
// session settings and transaction control. Sessions are utf8mb4, strict SQL mode, UTC.
//
// Connections come from a bounded pool: a caller waits up to `checkout_timeout` for one (then
// sql::Busy). A connection idle longer than `idle_check` is pinged at checkout and reopened when
// the server went away. A statement that finds its connection gone (CR_SERVER_GONE_ERROR,
// CR_SERVER_LOST: the server restarted, or the network dropped) is retried once on a fresh
// connection when it ran outside a transaction; inside one, the transaction is lost with the
// session and the caller gets sql::ConnectionLost. Note that an autocommitted write lost in flight
// may have been applied before the retry: writes meant to run exactly once belong in a
// transaction, or must be idempotent (a unique key turns the replay into a UniqueViolation).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sql/database.hpp"

namespace olympus::sql {

struct MariaDbOptions {
    std::string host = "localhost";  // TCP always; use `socket` for a Unix socket
    std::uint16_t port = 3306;
    std::string user;
    std::string password;  // never logged, never in error messages
    std::string database;
    std::string socket;  // Unix socket path; when set, host and port are not used
    // Connections open at most; each is one server session (mind the server's max_connections
    // times the number of replicas).
    unsigned pool_size = 8;
    std::chrono::milliseconds checkout_timeout{5000};  // wait for a free connection, then Busy
    std::chrono::seconds idle_check{30};               // ping a connection idle longer than this at checkout
    std::chrono::seconds connect_timeout{5};
    // A server that stops answering mid-statement must not hold a thread forever.
    std::chrono::seconds read_timeout{30};
    std::chrono::seconds write_timeout{30};

    // mariadb://user@host:port/db, without the password: for logs and messages.
    std::string describe() const;
};

// mariadb://user:pass@host:port/db (or mysql://), user and password percent-decoded; options as
// query parameters: socket, pool_size, checkout_timeout_ms, idle_check_s, connect_timeout_s,
// read_timeout_s, write_timeout_s. Throws std::invalid_argument naming the bad part (never
// quoting the password).
MariaDbOptions parse_mariadb_url(std::string_view url);

// Opens the pool and one connection at once, so that bad settings fail at start-up
// (sql::ConnectionLost when the server cannot be reached, sql::Error when it refuses the login).
std::unique_ptr<Database> open_mariadb(const MariaDbOptions& options);

}  // namespace olympus::sql
