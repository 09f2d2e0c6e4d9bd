// Single-row INSERT (autocommit) and SELECT by primary key per second through the SQL port
// (sql::open, Database::write / Database::read, Connection::exec / query_one), SQLite in a temp
// dir and MariaDB on 127.0.0.1 (the test fixture's server), against bench/sql_baseline.c running
// the same prepared statements straight on sqlite3 and Connector/C in the same run. One thread.
//
//   sql_bench BASELINE_BINARY [seconds-per-phase]   prints TSV lines "TSV\tengine\top\tport\tc\tratio"
#include <algorithm>
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

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The machine is shared: port and C take turns, in alternating order, for kRounds rounds, and the
// ratio is taken per round; the median round ratio (and the median rates) are printed.
constexpr int kRounds = 3;

template <class Port, class C>
void run_rounds(const char* engine, Port&& port, C&& c) {
    std::vector<double> port_insert, port_select, c_insert, c_select, insert_ratio, select_ratio;
    for (int round = 0; round < kRounds; ++round) {
        Rates p, b;
        if (round % 2 == 0) {
            p = port();
            b = c();
        } else {
            b = c();
            p = port();
        }
        port_insert.push_back(p.insert);
        port_select.push_back(p.select);
        c_insert.push_back(b.insert);
        c_select.push_back(b.select);
        insert_ratio.push_back(p.insert / b.insert);
        select_ratio.push_back(p.select / b.select);
    }
    std::printf("TSV\t%s\tINSERT\t%.0f\t%.0f\t%.2f\n", engine, median(port_insert), median(c_insert),
                median(insert_ratio));
    std::printf("TSV\t%s\tSELECT\t%.0f\t%.0f\t%.2f\n", engine, median(port_select), median(c_select),
                median(select_ratio));
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::cerr << "usage: sql_bench BASELINE_BINARY [seconds]\n";
        return 2;
    }
    const std::string baseline_binary = argv[1];
    const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
    const std::string secs = std::to_string(seconds);
    testing::TempDir dir;

    // SQLite: the port's adapter sets WAL, synchronous=NORMAL, foreign keys; the C peer does too.
    auto sqlite = sql::open("sqlite://" + dir.file("port.db"));
    run_rounds(
        "sqlite",
        [&] {
            return through_port(*sqlite,
                                "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, name TEXT NOT "
                                "NULL, qty INTEGER NOT NULL)",
                                seconds);
        },
        [&] {
            return baseline(baseline_binary, {"sqlite", dir.file("c.db"), secs}, dir);
        });
    sqlite.reset();

    // MariaDB: the fixture's mariadbd on 127.0.0.1 (innodb_flush_log_at_trx_commit=2), TCP for both.
    auto& server = testing::MariaDbServer::shared();
    auto mariadb = sql::open(server.create_database("bench_port"));
    server.create_database("bench_c");
    run_rounds(
        "mariadb",
        [&] {
            return through_port(
                *mariadb,
                "CREATE TABLE IF NOT EXISTS bench (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                " name VARCHAR(64) NOT NULL, qty BIGINT NOT NULL) ENGINE=InnoDB",
                seconds);
        },
        [&] {
            return baseline(baseline_binary,
                            {"mariadb", "127.0.0.1", std::to_string(server.port()),
                             std::string(testing::MariaDbServer::kUser),
                             std::string(testing::MariaDbServer::kPassword), "bench_c", secs},
                            dir);
        });
    return 0;
} catch (const std::exception& e) {
    std::cerr << "sql_bench: " << e.what() << "\n";
    return 1;
}
