// What is particular to the MariaDB adapter: URLs and secrets, login failures, the Unix socket,
// the pool's limits. Shared behaviour, and recovery after a server restart, are in
// database_contract_test.

#include "sql/mariadb.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "sql/database.hpp"
#include "testing/mariadb_server.hpp"
#include "testing/process.hpp"

namespace olympus::sql {
namespace {

constexpr std::string_view kCreate =
    "CREATE TABLE events (id BIGINT PRIMARY KEY AUTO_INCREMENT, label VARCHAR(64) NOT NULL) ENGINE=InnoDB";
constexpr std::string_view kInsert = "INSERT INTO events (label) VALUES (?)";
constexpr std::string_view kCount = "SELECT COUNT(*) FROM events";
constexpr std::string_view kSqlMode = "SELECT @@SESSION.sql_mode";
constexpr std::string_view kCharset = "SELECT @@SESSION.character_set_client, @@SESSION.time_zone";
constexpr std::string_view kNow = "SELECT CAST(NOW() AS CHAR) AS now, CAST(1.50 AS DECIMAL(5,2)) AS price";

std::int64_t count(Database& db) {
    return db.read([](Connection& c) { return c.query_one(kCount)->get<std::int64_t>(0); });
}

TEST(MariaDbUrl, ParsesPercentEncodedCredentialsHostPortDatabaseAndOptions) {
    const MariaDbOptions o = parse_mariadb_url(
        "mariadb://hera%40svc:p%40ss%3Aw%2Frd@db.internal:3307/hera?pool_size=3&checkout_timeout_ms=250"
        "&idle_check_s=0&connect_timeout_s=2&read_timeout_s=9&write_timeout_s=8");
    EXPECT_EQ(o.user, "hera@svc");
    EXPECT_EQ(o.password, "p@ss:w/rd");
    EXPECT_EQ(o.host, "db.internal");
    EXPECT_EQ(o.port, 3307);
    EXPECT_EQ(o.database, "hera");
    EXPECT_EQ(o.pool_size, 3u);
    EXPECT_EQ(o.checkout_timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(o.idle_check, std::chrono::seconds(0));
    EXPECT_EQ(o.connect_timeout, std::chrono::seconds(2));
    EXPECT_EQ(o.read_timeout, std::chrono::seconds(9));
    EXPECT_EQ(o.write_timeout, std::chrono::seconds(8));

    const MariaDbOptions socket =
        parse_mariadb_url("mysql://zeus:pw@localhost/zeus?socket=%2Frun%2Fmysqld%2Fm.sock");
    EXPECT_EQ(socket.socket, "/run/mysqld/m.sock");
    EXPECT_EQ(socket.port, 3306);
}

TEST(MariaDbUrl, RejectsBadUrlsWithoutQuotingThePassword) {
    for (const char* url : {"mariadb://u:secret-pw@host/db?pool=3", "mariadb://u:secret-pw@host/",
                            "mariadb://:secret-pw@host/db", "mariadb://u:secret-pw@host/db?pool_size=0",
                            "mariadb://u:secret-pw@host:0/db"}) {
        try {
            open(url);
            ADD_FAILURE() << "accepted a bad URL";
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()).find("secret-pw"), std::string::npos) << e.what();
        }
    }
}

TEST(MariaDbUrl, RedactionAndDescriptionNeverShowThePassword) {
    EXPECT_EQ(redact_url("mariadb://hera:s3cret@db:3306/hera"), "mariadb://hera:***@db:3306/hera");
    const std::string described = parse_mariadb_url("mariadb://hera:s3cret@db:3306/hera").describe();
    EXPECT_EQ(described, "mariadb://hera@db:3306/hera");
}

TEST(MariaDbAdapter, SessionsAreStrictUtf8mb4AndUtc) {
    auto db = open(testing::MariaDbServer::shared().create_database("mariadb_session"));
    EXPECT_EQ(db->dialect(), Dialect::mariadb);
    db->read([](Connection& c) {
        EXPECT_NE(c.query_one(kSqlMode)->get<std::string>(0).find("STRICT_ALL_TABLES"), std::string::npos);
        const auto row = c.query_one(kCharset);
        EXPECT_EQ(row->get<std::string>(0), "utf8mb4");
        EXPECT_EQ(row->get<std::string>(1), "+00:00");
        // Decimals and dates arrive as their text.
        const auto values = c.query_one(kNow);
        EXPECT_EQ(values->get<std::string>("now").size(), 19u);
        EXPECT_EQ(values->get<std::string>("price"), "1.50");
    });
    // Strict mode: a value too long for its column is an error, not a silent truncation.
    db->write([](Connection& c) { c.exec(kCreate); });
    EXPECT_THROW(db->write([](Connection& c) { c.exec(kInsert, std::string(65, 'x')); }), Error);
}

TEST(MariaDbAdapter, WrongPasswordIsALoginErrorThatDoesNotQuoteIt) {
    auto& server = testing::MariaDbServer::shared();
    server.create_database("mariadb_login");
    const std::string url = "mariadb://" + std::string(testing::MariaDbServer::kUser) +
                            ":not-the-password@127.0.0.1:" + std::to_string(server.port()) + "/mariadb_login";
    try {
        open(url);
        FAIL() << "logged in with a wrong password";
    } catch (const ConnectionLost&) {
        FAIL() << "a refused login is not a lost connection";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find("not-the-password"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("Access denied"), std::string::npos) << e.what();
    }
}

TEST(MariaDbAdapter, UnreachableServerIsConnectionLost) {
    const std::uint16_t closed = testing::free_port();
    EXPECT_THROW(open("mariadb://u:p@127.0.0.1:" + std::to_string(closed) + "/db"), ConnectionLost);
}

TEST(MariaDbAdapter, ConnectsOverTheUnixSocket) {
    auto& server = testing::MariaDbServer::shared();
    server.create_database("mariadb_socket");
    auto db = open(server.socket_url("mariadb_socket"));
    db->write([](Connection& c) {
        c.exec(kCreate);
        c.exec(kInsert, "over the socket");
    });
    EXPECT_EQ(count(*db), 1);
}

TEST(MariaDbAdapter, PoolIsBoundedAndCheckoutTimesOut) {
    auto db = open(testing::MariaDbServer::shared().create_database("mariadb_pool") +
                   "?pool_size=2&checkout_timeout_ms=200");
    db->read([&](Connection&) {
        db->read([&](Connection&) {
            EXPECT_EQ(db->stats().in_use, 2u);
            const auto start = std::chrono::steady_clock::now();
            EXPECT_THROW(db->read([](Connection&) {}), Busy);
            EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(190));
        });
    });
    const PoolStats stats = db->stats();
    EXPECT_EQ(stats.open, 2u);
    EXPECT_EQ(stats.in_use, 0u);
    EXPECT_EQ(stats.capacity, 2u);
}

TEST(MariaDbAdapter, ReadLeasesStartReadOnlyTransactions) {
    auto db = open(testing::MariaDbServer::shared().create_database("mariadb_read_only"));
    db->write([](Connection& c) { c.exec(kCreate); });
    EXPECT_THROW(db->read([](Connection& c) {
        Transaction tx(c);
        c.exec(kInsert, "refused");
    }),
                 Error);
    EXPECT_EQ(count(*db), 0);
}

}  // namespace
}  // namespace olympus::sql
