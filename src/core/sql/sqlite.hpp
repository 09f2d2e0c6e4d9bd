#pragma once

// The SQLite adapter of the SQL port: the embedded default. One writer connection guarded by a
// mutex (SQLite allows one writer at a time anyway; queuing writers in-process is cheaper and
// fairer than spinning on SQLITE_BUSY) and a pool of reader connections that run beside it thanks
// to WAL. Foreign keys are enforced, and a busy timeout covers other processes (`olympus migrate`
// while a server runs).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "sql/database.hpp"

namespace olympus::sql {

struct SqliteOptions {
    // A file path, or ":memory:" for a private in-memory database (then reads use the writer).
    std::string path;
    // Read-only connections for Database::read; 0 sends reads to the writer.
    unsigned readers = 4;
    // How long a statement waits for a lock held by another process, and a caller for the writer
    // or a reader of this process, before sql::Busy.
    std::chrono::milliseconds busy_timeout{5000};
};

// `sqlite:///abs/path.db`, `sqlite://relative/path.db` or `sqlite::memory:`, with optional
// `?readers=N&busy_timeout_ms=M`. Throws std::invalid_argument naming a bad part.
SqliteOptions parse_sqlite_url(std::string_view url);

// Opens (creating when missing) the database file: WAL, synchronous=NORMAL, foreign_keys=ON.
std::unique_ptr<Database> open_sqlite(const SqliteOptions& options);

}  // namespace olympus::sql
