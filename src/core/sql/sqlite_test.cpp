// What is particular to the SQLite adapter: URLs, WAL readers beside the writer, the in-memory
// database, and the writer guard. The behaviour shared with MariaDB is in database_contract_test.

#include "sql/sqlite.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "sql/database.hpp"
#include "testing/process.hpp"

namespace olympus::sql {
namespace {

constexpr std::string_view kCreate = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)";
constexpr std::string_view kInsert = "INSERT INTO notes (body) VALUES (?)";
constexpr std::string_view kCount = "SELECT COUNT(*) FROM notes";
constexpr std::string_view kJournalMode = "PRAGMA journal_mode";
constexpr std::string_view kForeignKeys = "PRAGMA foreign_keys";
constexpr std::string_view kSynchronous = "PRAGMA synchronous";

TEST(SqliteUrl, ParsesPathsMemoryAndOptions) {
    EXPECT_EQ(parse_sqlite_url("sqlite:///var/lib/olympus/hera.db").path, "/var/lib/olympus/hera.db");
    EXPECT_EQ(parse_sqlite_url("sqlite://data/hera.db").path, "data/hera.db");
    const SqliteOptions memory = parse_sqlite_url("sqlite::memory:");
    EXPECT_EQ(memory.path, ":memory:");
    EXPECT_EQ(memory.readers, 0u);
    const SqliteOptions tuned = parse_sqlite_url("sqlite:///tmp/x.db?readers=2&busy_timeout_ms=250");
    EXPECT_EQ(tuned.path, "/tmp/x.db");
    EXPECT_EQ(tuned.readers, 2u);
    EXPECT_EQ(tuned.busy_timeout, std::chrono::milliseconds(250));
}

TEST(SqliteUrl, RejectsUnknownOptionsAndEmptyPaths) {
    EXPECT_THROW(parse_sqlite_url("sqlite:///tmp/x.db?readerz=2"), std::invalid_argument);
    EXPECT_THROW(parse_sqlite_url("sqlite:///tmp/x.db?readers=many"), std::invalid_argument);
    EXPECT_THROW(parse_sqlite_url("sqlite:///tmp/x.db?readers=1000"), std::invalid_argument);
    EXPECT_THROW(parse_sqlite_url("sqlite://"), std::invalid_argument);
    EXPECT_THROW(open("postgres://localhost/db"), std::invalid_argument);
}

TEST(SqliteAdapter, FileDatabaseUsesWalForeignKeysAndNormalSync) {
    testing::TempDir dir;
    auto db = open("sqlite://" + dir.file("x.db"));
    EXPECT_EQ(db->dialect(), Dialect::sqlite);
    db->write([](Connection& c) {
        EXPECT_EQ(c.query_one(kJournalMode)->get<std::string>(0), "wal");
        EXPECT_EQ(c.query_one(kForeignKeys)->get<int>(0), 1);
        EXPECT_EQ(c.query_one(kSynchronous)->get<int>(0), 1);  // NORMAL
    });
    db->read([](Connection& c) { EXPECT_EQ(c.query_one(kForeignKeys)->get<int>(0), 1); });
}

TEST(SqliteAdapter, ReadersSeeCommittedDataWhileAWriteTransactionIsOpen) {
    testing::TempDir dir;
    auto db = open("sqlite://" + dir.file("x.db") + "?readers=2");
    db->write([](Connection& c) {
        c.exec(kCreate);
        c.exec(kInsert, "committed");
    });
    db->write([&](Connection& c) {
        Transaction tx(c);
        c.exec(kInsert, "pending");
        // A reader is not blocked by the open write transaction and does not see it.
        EXPECT_EQ(db->read([](Connection& r) { return r.query_one(kCount)->get<int>(0); }), 1);
        tx.commit();
    });
    EXPECT_EQ(db->read([](Connection& r) { return r.query_one(kCount)->get<int>(0); }), 2);
}

TEST(SqliteAdapter, ReaderConnectionsRefuseWrites) {
    testing::TempDir dir;
    auto db = open("sqlite://" + dir.file("x.db"));
    db->write([](Connection& c) { c.exec(kCreate); });
    EXPECT_THROW(db->read([](Connection& c) { c.exec(kInsert, "sneaky"); }), Error);
}

TEST(SqliteAdapter, WriteInsideWriteOnOneThreadIsRefusedAtOnce) {
    auto db = open("sqlite::memory:");
    const auto start = std::chrono::steady_clock::now();
    db->write([&](Connection&) { EXPECT_THROW(db->write([](Connection&) {}), Error); });
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    // The writer is free again afterwards.
    EXPECT_NO_THROW(db->write([](Connection& c) { c.exec(kCreate); }));
}

TEST(SqliteAdapter, MemoryDatabaseServesReadsFromItsOnlyConnection) {
    auto db = open("sqlite::memory:");
    db->transaction([](Connection& c) {
        c.exec(kCreate);
        c.exec(kInsert, "one");
    });
    EXPECT_EQ(db->read([](Connection& c) { return c.query_one(kCount)->get<int>(0); }), 1);
    EXPECT_EQ(db->stats().capacity, 1u);
}

TEST(SqliteAdapter, AnotherProcessHoldingTheWriteLockGivesBusyAfterTheTimeout) {
    testing::TempDir dir;
    const std::string url = "sqlite://" + dir.file("x.db") + "?busy_timeout_ms=100";
    auto first = open(url);
    auto second = open(url);  // a second Database on the file stands for another process
    first->write([](Connection& c) { c.exec(kCreate); });
    first->write([&](Connection& c) {
        Transaction tx(c);
        c.exec(kInsert, "holding the lock");
        const auto start = std::chrono::steady_clock::now();
        EXPECT_THROW(second->write([](Connection& other) { other.exec(kInsert, "waits"); }), Busy);
        EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(90));
        tx.commit();
    });
    EXPECT_NO_THROW(second->write([](Connection& other) { other.exec(kInsert, "now free"); }));
}

TEST(SqliteAdapter, OneStatementPerPrepare) {
    auto db = open("sqlite::memory:");
    EXPECT_THROW(db->write([](Connection& c) { c.exec("CREATE TABLE a (x); CREATE TABLE b (y)"); }), Error);
    EXPECT_THROW(db->write([](Connection& c) { c.exec("SELEKT 1"); }), Error);
}

TEST(SqliteAdapter, PreparedStatementsAreCachedPerConnection) {
    auto db = open("sqlite::memory:");
    db->write([](Connection& c) {
        c.exec(kCreate);
        Statement& first = c.prepare(kInsert);
        Statement& again = c.prepare(kInsert);
        EXPECT_EQ(&first, &again);
        EXPECT_EQ(first.parameter_count(), 1);
    });
}

}  // namespace
}  // namespace olympus::sql
