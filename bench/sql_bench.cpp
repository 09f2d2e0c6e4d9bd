// Single-row INSERT (autocommit) and SELECT by primary key per second through the SQL port
// (sql::open, Database::write / Database::read, Connection::exec / query_one), SQLite in a temp
// dir and MariaDB on 127.0.0.1 (the test fixture's server), against bench/sql_baseline.c running
// the same prepared statements straight on sqlite3 and Connector/C in the same run. One thread.
//
//   sql_bench BASELINE_BINARY [seconds-per-phase]   prints TSV lines "TSV\tengine\top\tport\tc\tratio"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sql/database.hpp"
#include "testing/mariadb_server.hpp"
#include "testing/process.hpp"

namespace {

using namespace olympus;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kInsert = "INSERT INTO bench (name, qty) VALUES (?, ?)";
constexpr std::string_view kSelect = "SELECT id, name, qty FROM bench WHERE id = ?";

struct Rates {
    double insert = 0;
    double select = 0;
};

template <class F>
double per_second(double seconds, F&& step) {
    std::int64_t done = 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    do {
        for (int i = 0; i < 16; ++i) step(done++);
    } while (Clock::now() < deadline);
    return static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

Rates through_port(sql::Database& db, std::string_view create, double seconds) {
    db.write([&](sql::Connection& c) { c.exec(create); });
    std::int64_t rows = 0;
    Rates r;
    r.insert = per_second(seconds, [&](std::int64_t n) {
        db.write([&](sql::Connection& c) { c.exec(kInsert, "item-" + std::to_string(n), n); });
        rows = n + 1;
    });
    r.select = per_second(seconds, [&](std::int64_t n) {
        auto row = db.read([&](sql::Connection& c) { return c.query_one(kSelect, 1 + n % rows); });
        if (!row) throw std::runtime_error("row not found");
        // Read the row as a caller would.
        if (row->get<std::int64_t>(0) <= 0 || row->get<std::string_view>(1).empty())
            throw std::runtime_error("bad row");
        (void)row->get<std::int64_t>(2);
    });
    return r;
}

Rates baseline(const std::string& binary, std::vector<std::string> args, const testing::TempDir& dir) {
    args.insert(args.begin(), binary);
    testing::run_command(std::move(args), dir.path(), std::chrono::seconds(120));
    std::istringstream out(testing::read_file(dir.file("command-output.txt")));
    Rates r;
    if (!(out >> r.insert >> r.select)) throw std::runtime_error("sql_baseline printed nothing usable");
    return r;
}

void print(const char* engine, const Rates& port, const Rates& c) {
    std::printf("TSV\t%s\tINSERT\t%.0f\t%.0f\t%.2f\n", engine, port.insert, c.insert, port.insert / c.insert);
    std::printf("TSV\t%s\tSELECT\t%.0f\t%.0f\t%.2f\n", engine, port.select, c.select, port.select / c.select);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::cerr << "usage: sql_bench BASELINE_BINARY [seconds]\n";
        return 2;
    }
    const std::string baseline_binary = argv[1];
    const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
    const std::string secs = std::to_string(seconds);
    testing::TempDir dir;

    // SQLite: the port's adapter sets WAL, synchronous=NORMAL, foreign keys; the C peer does too.
    {
        auto db = sql::open("sqlite://" + dir.file("port.db"));
        const Rates port = through_port(
            *db, "CREATE TABLE bench (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL)",
            seconds);
        const Rates c = baseline(baseline_binary, {"sqlite", dir.file("c.db"), secs}, dir);
        print("sqlite", port, c);
    }

    // MariaDB: the fixture's mariadbd on 127.0.0.1 (innodb_flush_log_at_trx_commit=2), TCP for both.
    {
        auto& server = testing::MariaDbServer::shared();
        auto db = sql::open(server.create_database("bench_port"));
        const Rates port = through_port(*db,
                                        "CREATE TABLE bench (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                                        " name VARCHAR(64) NOT NULL, qty BIGINT NOT NULL) ENGINE=InnoDB",
                                        seconds);
        server.create_database("bench_c");
        const Rates c = baseline(baseline_binary,
                                 {"mariadb", "127.0.0.1", std::to_string(server.port()),
                                  std::string(testing::MariaDbServer::kUser),
                                  std::string(testing::MariaDbServer::kPassword), "bench_c", secs},
                                 dir);
        print("mariadb", port, c);
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "sql_bench: " << e.what() << "\n";
    return 1;
}
