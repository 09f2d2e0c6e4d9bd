// The contract of the SQL port, run against every adapter: SQLite on a temporary file and a real
// MariaDB server (started once per test binary by testing::MariaDbServer, a fresh database per test);
// then what only a server has: the pool recovering after the server is stopped and started again.

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sql/database.hpp"
#include "testing/mariadb_server.hpp"
#include "testing/process.hpp"

namespace olympus::sql {
namespace {

enum class Backend { sqlite, mariadb };

constexpr std::string_view kSqliteSchema[] = {
    "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, quantity INTEGER, "
    "price REAL, note TEXT, payload BLOB)",
    "CREATE TABLE parts (id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER NOT NULL REFERENCES "
    "items(id), "
    "label TEXT NOT NULL)",
};
constexpr std::string_view kMariaDbSchema[] = {
    "CREATE TABLE items (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(191) NOT NULL, quantity BIGINT "
    "NULL, "
    "price DOUBLE NULL, note TEXT NULL, payload LONGBLOB NULL, UNIQUE KEY items_name (name)) ENGINE=InnoDB",
    "CREATE TABLE parts (id BIGINT PRIMARY KEY AUTO_INCREMENT, item_id BIGINT NOT NULL, label VARCHAR(100) "
    "NOT NULL, "
    "CONSTRAINT parts_item FOREIGN KEY (item_id) REFERENCES items (id)) ENGINE=InnoDB",
};

constexpr std::string_view kInsertItem =
    "INSERT INTO items (name, quantity, price, note, payload) VALUES (?, ?, ?, ?, ?)";
constexpr std::string_view kInsertName = "INSERT INTO items (name) VALUES (?)";
constexpr std::string_view kSelectItem =
    "SELECT id, name, quantity, price, note, payload FROM items WHERE name = ?";
constexpr std::string_view kSelectNames = "SELECT name FROM items ORDER BY id";
constexpr std::string_view kCountItems = "SELECT COUNT(*) AS n FROM items";
constexpr std::string_view kUpdateQuantity = "UPDATE items SET quantity = ? WHERE name = ?";
constexpr std::string_view kDeleteItem = "DELETE FROM items WHERE name = ?";
constexpr std::string_view kInsertPart = "INSERT INTO parts (item_id, label) VALUES (?, ?)";

std::string backend_name(Backend backend) {
    return backend == Backend::sqlite ? "SQLite" : "MariaDB";
}

class DatabaseContract : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override {
        if (GetParam() == Backend::sqlite) {
            dir_ = std::make_unique<testing::TempDir>();
            url_ = "sqlite://" + dir_->file("contract.db");
        } else {
            const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
            url_ = testing::MariaDbServer::shared().create_database(std::string("contract_") + info->name());
        }
        db_ = open(url_);
        db_->write([&](Connection& c) {
            if (c.dialect() == Dialect::sqlite) {
                for (auto statement : kSqliteSchema) c.exec(statement);
            } else {
                for (auto statement : kMariaDbSchema) c.exec(statement);
            }
        });
    }

    std::int64_t count() {
        return db_->read([](Connection& c) { return c.query_one(kCountItems)->get<std::int64_t>("n"); });
    }

    std::unique_ptr<testing::TempDir> dir_;
    std::string url_;
    std::unique_ptr<Database> db_;
};

Blob every_byte() {
    Blob bytes;
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<std::uint8_t>(255 - i));
    return bytes;
}

TEST_P(DatabaseContract, RoundTripsEveryTypeIncludingNullUtf8AndBinary) {
    const std::string utf8 = "h\u00e9llo \U0001F30D \u6f22\u5b57 \U0001F468\u200D\U0001F469\u200D\U0001F467";
    const Blob bytes = every_byte();
    const auto max = std::numeric_limits<std::int64_t>::max();
    const auto min = std::numeric_limits<std::int64_t>::min();

    const ExecResult first =
        db_->write([&](Connection& c) { return c.exec(kInsertItem, "full", max, 2.5, utf8, bytes); });
    EXPECT_EQ(first.rows_affected, 1);
    EXPECT_GT(first.last_insert_id, 0);
    const ExecResult second = db_->write([&](Connection& c) {
        return c.exec(kInsertItem, "nulls", std::nullopt, nullptr, std::optional<std::string>(), nullptr);
    });
    EXPECT_EQ(second.last_insert_id, first.last_insert_id + 1);
    db_->write([&](Connection& c) { c.exec(kInsertItem, "min", min, -0.125, "", Blob{}); });

    auto full = db_->read([&](Connection& c) { return c.query_one(kSelectItem, "full"); });
    ASSERT_TRUE(full.has_value());
    EXPECT_EQ(full->get<std::int64_t>("id"), first.last_insert_id);
    EXPECT_EQ(full->get<std::string>(1), "full");
    EXPECT_EQ(full->get<std::int64_t>("quantity"), max);
    EXPECT_DOUBLE_EQ(full->get<double>("price"), 2.5);
    EXPECT_EQ(full->get<std::string>("note"), utf8);
    EXPECT_EQ(full->get<Blob>("payload"), bytes);
    EXPECT_EQ(full->get<std::optional<std::int64_t>>("quantity"), max);

    auto nulls = db_->read([&](Connection& c) { return c.query_one(kSelectItem, "nulls"); });
    ASSERT_TRUE(nulls.has_value());
    for (const char* column : {"quantity", "price", "note", "payload"})
        EXPECT_TRUE(nulls->is_null(column)) << column;
    EXPECT_EQ(nulls->get<std::optional<std::int64_t>>("quantity"), std::nullopt);
    EXPECT_EQ(nulls->get<std::optional<std::string>>("note"), std::nullopt);
    EXPECT_EQ(nulls->get<std::optional<Blob>>("payload"), std::nullopt);
    EXPECT_THROW(nulls->get<std::string>("note"), Error);

    auto lowest = db_->read([&](Connection& c) { return c.query_one(kSelectItem, "min"); });
    ASSERT_TRUE(lowest.has_value());
    EXPECT_EQ(lowest->get<std::int64_t>("quantity"), min);
    EXPECT_DOUBLE_EQ(lowest->get<double>("price"), -0.125);
    EXPECT_EQ(lowest->get<std::string>("note"), "");
    EXPECT_FALSE(lowest->is_null("payload"));
    EXPECT_TRUE(lowest->get<Blob>("payload").empty());

    EXPECT_EQ(db_->write([&](Connection& c) { return c.exec(kUpdateQuantity, 7, "full"); }).rows_affected, 1);
    EXPECT_EQ(
        db_->read([&](Connection& c) { return c.query_one(kSelectItem, "full"); })->get<int>("quantity"), 7);
    EXPECT_EQ(db_->write([&](Connection& c) { return c.exec(kDeleteItem, "full"); }).rows_affected, 1);
    EXPECT_FALSE(db_->read([&](Connection& c) { return c.query_one(kSelectItem, "full"); }).has_value());
    EXPECT_EQ(count(), 2);
}

TEST_P(DatabaseContract, RowsKeepOrderAndColumnNames) {
    db_->transaction([&](Connection& c) {
        for (const char* name : {"b", "a", "c"}) c.exec(kInsertName, name);
    });
    const Rows rows = db_->read([&](Connection& c) { return c.query(kSelectNames); });
    ASSERT_EQ(rows.size(), 3u);
    ASSERT_EQ(rows.columns(), std::vector<std::string>{"name"});
    std::vector<std::string> names;
    for (const Row row : rows) names.push_back(row.get<std::string>("NAME"));
    EXPECT_EQ(names, (std::vector<std::string>{"b", "a", "c"}));
}

TEST_P(DatabaseContract, TypedGettersRefuseWhatTheyCannotRead) {
    db_->write([&](Connection& c) { c.exec(kInsertItem, "x", 300, 1.5, "text", nullptr); });
    auto row = db_->read([&](Connection& c) { return c.query_one(kSelectItem, "x"); });
    ASSERT_TRUE(row.has_value());
    EXPECT_THROW(row->get<std::int64_t>("note"), Error);
    EXPECT_THROW(row->get<std::uint8_t>("quantity"), Error);  // 300 does not fit
    EXPECT_THROW(row->get<std::string>("payload"), Error);    // NULL without optional
    EXPECT_THROW(row->get<int>("no_such_column"), Error);
    EXPECT_THROW(row->get<int>(42), Error);
    EXPECT_EQ(row->get<std::int16_t>("quantity"), 300);
    EXPECT_DOUBLE_EQ(row->get<double>("quantity"), 300.0);  // integers read as reals
}

TEST_P(DatabaseContract, WrongParameterCountAndSeveralRowsForQueryOneAreErrors) {
    EXPECT_THROW(db_->write([&](Connection& c) { c.exec(kInsertName); }), Error);
    EXPECT_THROW(db_->write([&](Connection& c) { c.exec(kInsertName, "a", "b"); }), Error);
    db_->transaction([&](Connection& c) {
        c.exec(kInsertName, "a");
        c.exec(kInsertName, "b");
    });
    EXPECT_THROW(db_->read([&](Connection& c) { return c.query_one(kSelectNames); }), Error);
}

TEST_P(DatabaseContract, TransactionRolledBackWhenAnExceptionLeavesIt) {
    EXPECT_THROW(db_->transaction([&](Connection& c) {
        c.exec(kInsertName, "doomed");
        throw std::runtime_error("business rule failed");
    }),
                 std::runtime_error);
    EXPECT_EQ(count(), 0);

    db_->write([&](Connection& c) {
        {
            Transaction tx(c);
            c.exec(kInsertName, "not committed");
        }
        Transaction tx(c);
        c.exec(kInsertName, "committed");
        tx.commit();
    });
    const Rows rows = db_->read([&](Connection& c) { return c.query(kSelectNames); });
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].get<std::string>(0), "committed");
}

TEST_P(DatabaseContract, NestedTransactionIsRefused) {
    db_->write([&](Connection& c) {
        Transaction outer(c);
        c.exec(kInsertName, "outer");
        EXPECT_THROW(Transaction{c}, Error);
        outer.commit();
    });
    EXPECT_EQ(count(), 1);
}

TEST_P(DatabaseContract, UniqueViolationIsTypedAndLeavesTheTransactionUsable) {
    db_->write([&](Connection& c) { c.exec(kInsertName, "taken"); });
    try {
        db_->write([&](Connection& c) { c.exec(kInsertName, "taken"); });
        FAIL() << "duplicate accepted";
    } catch (const UniqueViolation& e) {
        EXPECT_NE(e.constraint().find("name"), std::string::npos) << e.constraint();
        EXPECT_NE(e.code(), 0);
    }
    db_->transaction([&](Connection& c) {
        EXPECT_THROW(c.exec(kInsertName, "taken"), UniqueViolation);
        c.exec(kInsertName, "free");
    });
    EXPECT_EQ(count(), 2);
    // The typed errors are all sql::Error.
    EXPECT_THROW(db_->write([&](Connection& c) { c.exec(kInsertName, "free"); }), Error);
}

TEST_P(DatabaseContract, ForeignKeyViolationIsTyped) {
    const auto item = db_->write([&](Connection& c) { return c.exec(kInsertName, "parent").last_insert_id; });
    db_->write([&](Connection& c) { c.exec(kInsertPart, item, "fits"); });
    EXPECT_THROW(db_->write([&](Connection& c) { c.exec(kInsertPart, item + 1000, "orphan"); }),
                 ForeignKeyViolation);
    EXPECT_THROW(db_->write([&](Connection& c) { c.exec(kDeleteItem, "parent"); }), ForeignKeyViolation);
}

TEST_P(DatabaseContract, ConcurrentWritersLoseNothing) {
    constexpr int kThreads = 4;
    constexpr int kInsertsEach = 200;
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kInsertsEach; ++i) {
                try {
                    const std::string name = "w" + std::to_string(t) + "-" + std::to_string(i);
                    if (i % 2 == 0) {
                        db_->write([&](Connection& c) { c.exec(kInsertName, name); });
                    } else {
                        db_->transaction([&](Connection& c) { c.exec(kInsertName, name); });
                    }
                    // Readers run beside the writers.
                    if (i % 50 == 0) count();
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                    ++errors;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(count(), kThreads * kInsertsEach);
}

TEST_P(DatabaseContract, InjectionStringsAreStoredVerbatim) {
    const std::vector<std::string> hostile = {
        "'; DROP TABLE items; --",
        "Robert'); DROP TABLE parts;--",
        "\\' OR '1'='1",
        "\" OR \"\"=\"",
        "%_*?",
        std::string("nul\0byte", 8),
        "\\x27\\u0027",
        "/* comment */ SELECT 1",
    };
    db_->transaction([&](Connection& c) {
        for (const auto& text : hostile) c.exec(kInsertItem, text, 1, 1.0, text, nullptr);
    });
    for (const auto& text : hostile) {
        auto row = db_->read([&](Connection& c) { return c.query_one(kSelectItem, text); });
        ASSERT_TRUE(row.has_value()) << text;
        EXPECT_EQ(row->get<std::string>("name"), text);
        EXPECT_EQ(row->get<std::string>("note"), text);
    }
    EXPECT_EQ(count(), static_cast<std::int64_t>(hostile.size()));
    EXPECT_EQ(
        db_->write([&](Connection& c) { return c.exec(kInsertPart, 1, "tables still exist"); }).rows_affected,
        1);
}

TEST_P(DatabaseContract, PingAndStatsDescribeThePool) {
    EXPECT_NO_THROW(db_->ping());
    const PoolStats stats = db_->stats();
    EXPECT_GE(stats.open, 1u);
    EXPECT_EQ(stats.in_use, 0u);
    EXPECT_GE(stats.capacity, stats.open);
    db_->write([&](Connection&) { EXPECT_EQ(db_->stats().in_use, 1u); });
}

INSTANTIATE_TEST_SUITE_P(Adapters, DatabaseContract, ::testing::Values(Backend::sqlite, Backend::mariadb),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                             return backend_name(param.param);
                         });

// MariaDB only: SQLite has no server to lose.
constexpr std::string_view kCreateEvents =
    "CREATE TABLE events (id BIGINT PRIMARY KEY AUTO_INCREMENT, label VARCHAR(64) NOT NULL) ENGINE=InnoDB";
constexpr std::string_view kInsertEvent = "INSERT INTO events (label) VALUES (?)";
constexpr std::string_view kCountEvents = "SELECT COUNT(*) FROM events";

// Restarting the shared server takes about a second: one test covers both ways a pool finds its
// sessions gone (a failing statement, a ping at checkout) and a transaction caught by the restart.
TEST(DatabaseContractMariaDb, PoolRecoversAfterTheServerIsStoppedAndStartedAgain) {
    auto& server = testing::MariaDbServer::shared();
    const std::string url = server.create_database("mariadb_restart");
    auto retrying = open(url);                     // finds a dead session when a statement fails
    auto pinging = open(url + "?idle_check_s=0");  // finds it by pinging at checkout
    retrying->write([](Connection& c) { c.exec(kCreateEvents); });
    for (Database* db : {retrying.get(), pinging.get()}) {
        // Two sessions in each pool, both to be found dead after the restart.
        db->read([&](Connection& a) {
            db->read([&](Connection& b) {
                a.query(kCountEvents);
                b.query(kCountEvents);
            });
        });
        ASSERT_EQ(db->stats().open, 2u);
    }

    retrying->write([&](Connection& c) {
        Transaction tx(c);
        c.exec(kInsertEvent, "in a transaction the restart breaks");
        server.stop();
        EXPECT_THROW(pinging->read([](Connection& other) { other.query(kCountEvents); }), ConnectionLost);
        server.start();
        // The server is back, but the transaction died with its session: no silent replay.
        EXPECT_THROW(c.exec(kInsertEvent, "after the restart"), ConnectionLost);
    });

    // The next calls succeed, on every pooled session.
    for (Database* db : {retrying.get(), pinging.get()}) {
        db->read([&](Connection& a) {
            db->read([&](Connection& b) {
                EXPECT_EQ(a.query_one(kCountEvents)->get<int>(0), 0);
                EXPECT_EQ(b.query_one(kCountEvents)->get<int>(0), 0);
            });
        });
    }
    retrying->write([](Connection& c) { c.exec(kInsertEvent, "after"); });
    EXPECT_EQ(pinging->read([](Connection& c) { return c.query_one(kCountEvents)->get<int>(0); }), 1);
    EXPECT_EQ(retrying->stats().in_use, 0u);
}

}  // namespace
}  // namespace olympus::sql
