// Schema migrations on both engines: order, idempotence, refusal of a newer schema, atomicity on
// SQLite, and replicas migrating the same database at the same time.

#include "sql/migrations.hpp"

#include <atomic>
#include <memory>
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

constexpr std::string_view kCreateWidgetsSqlite =
    "CREATE TABLE widgets (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)";
constexpr std::string_view kCreateWidgetsMariaDb =
    "CREATE TABLE widgets (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64) NOT NULL) ENGINE=InnoDB";
constexpr std::string_view kSeedWidget = "INSERT INTO widgets (name) VALUES ('seed')";
constexpr std::string_view kAddColourSqlite = "ALTER TABLE widgets ADD COLUMN colour TEXT";
constexpr std::string_view kAddColourMariaDb = "ALTER TABLE widgets ADD COLUMN colour VARCHAR(16) NULL";
constexpr std::string_view kBroken = "CREATE TABLE widgets_broken (id INTEGER PRIMARY KEY, oops NOT A TYPE (";
constexpr std::string_view kCreateGadgets = "CREATE TABLE gadgets (id INTEGER PRIMARY KEY)";

constexpr std::string_view kCountWidgets = "SELECT COUNT(*) FROM widgets";
constexpr std::string_view kSelectColour = "SELECT colour FROM widgets";
constexpr std::string_view kCountRecords = "SELECT COUNT(*) FROM schema_migrations WHERE service = ?";
constexpr std::string_view kRecordNames =
    "SELECT name, applied_at FROM schema_migrations WHERE service = ? ORDER BY version";
constexpr std::string_view kCountTable = "SELECT COUNT(*) FROM sqlite_master WHERE name = ?";

std::vector<Migration> widget_migrations() {
    return {
        {1, "create widgets", {kCreateWidgetsSqlite}, {kCreateWidgetsMariaDb}},
        {2, "seed a widget", {kSeedWidget}, {kSeedWidget}},
        {3, "widgets have a colour", {kAddColourSqlite}, {kAddColourMariaDb}},
    };
}

std::int64_t scalar(Database& db, std::string_view sql) {
    return db.read([&](Connection& c) { return c.query_one(sql)->get<std::int64_t>(0); });
}

std::int64_t records(Database& db, std::string_view service) {
    return db.read([&](Connection& c) { return c.query_one(kCountRecords, service)->get<std::int64_t>(0); });
}

class SqliteMigrations : public ::testing::Test {
  protected:
    testing::TempDir dir_;
    std::string url_ = "sqlite://" + dir_.file("service.db");
    std::unique_ptr<Database> db_ = open(url_);
};

TEST_F(SqliteMigrations, AppliesPendingMigrationsInOrderAndRecordsThem) {
    EXPECT_EQ(schema_version(*db_, "widgets"), 0);
    const auto all = widget_migrations();
    const MigrateResult first = migrate(*db_, "widgets", std::span(all).first(2));
    EXPECT_EQ(first.version_before, 0);
    EXPECT_EQ(first.version_after, 2);
    EXPECT_EQ(first.applied, (std::vector<std::int64_t>{1, 2}));

    // A later release adds migration 3: only it runs.
    const MigrateResult second = migrate(*db_, "widgets", all);
    EXPECT_EQ(second.version_before, 2);
    EXPECT_EQ(second.applied, (std::vector<std::int64_t>{3}));
    EXPECT_EQ(schema_version(*db_, "widgets"), 3);
    EXPECT_EQ(scalar(*db_, kCountWidgets), 1);
    EXPECT_TRUE(db_->read([](Connection& c) { return c.query_one(kSelectColour)->is_null(0); }));

    const Rows recorded = db_->read([](Connection& c) { return c.query(kRecordNames, "widgets"); });
    ASSERT_EQ(recorded.size(), 3u);
    EXPECT_EQ(recorded[2].get<std::string>("name"), "widgets have a colour");
    EXPECT_EQ(recorded[2].get<std::string>("applied_at").size(), 20u);  // 2024-01-02T03:04:05Z
}

TEST_F(SqliteMigrations, RunningAgainAppliesNothing) {
    migrate(*db_, "widgets", widget_migrations());
    const MigrateResult again = migrate(*db_, "widgets", widget_migrations());
    EXPECT_TRUE(again.applied.empty());
    EXPECT_EQ(again.version_before, 3);
    EXPECT_EQ(scalar(*db_, kCountWidgets), 1);
}

TEST_F(SqliteMigrations, RefusesASchemaNewerThanTheBinaryNamingBothVersions) {
    migrate(*db_, "widgets", widget_migrations());
    const auto older = widget_migrations();
    try {
        migrate(*db_, "widgets", std::span(older).first(2));
        FAIL() << "an old binary migrated a newer schema";
    } catch (const SchemaTooNew& e) {
        EXPECT_EQ(e.database_version(), 3);
        EXPECT_EQ(e.known_version(), 2);
        const std::string what = e.what();
        EXPECT_NE(what.find("version 3"), std::string::npos) << what;
        EXPECT_NE(what.find("version 2"), std::string::npos) << what;
        EXPECT_NE(what.find("widgets"), std::string::npos) << what;
    }
}

TEST_F(SqliteMigrations, AFailingMigrationLeavesNoTraceAndStopsTheRun) {
    const std::vector<Migration> migrations = {
        {1, "create widgets", {kCreateWidgetsSqlite}, {kCreateWidgetsMariaDb}},
        {2, "gadgets, then a typo", {kCreateGadgets, kBroken}, {kBroken}},
        {3, "never reached", {kSeedWidget}, {kSeedWidget}},
    };
    EXPECT_THROW(migrate(*db_, "widgets", migrations), Error);
    EXPECT_EQ(schema_version(*db_, "widgets"), 1);
    // SQLite DDL is transactional: the first statement of the failed migration was rolled back.
    EXPECT_EQ(db_->read([](Connection& c) { return c.query_one(kCountTable, "gadgets")->get<int>(0); }), 0);
    EXPECT_EQ(scalar(*db_, kCountWidgets), 0);
}

TEST_F(SqliteMigrations, ServicesSharingADatabaseKeepSeparateVersions) {
    migrate(*db_, "widgets", widget_migrations());
    const std::vector<Migration> gadgets = {{1, "create gadgets", {kCreateGadgets}, {kCreateGadgets}}};
    EXPECT_EQ(migrate(*db_, "gadgets", gadgets).applied, (std::vector<std::int64_t>{1}));
    EXPECT_EQ(schema_version(*db_, "widgets"), 3);
    EXPECT_EQ(schema_version(*db_, "gadgets"), 1);
}

TEST_F(SqliteMigrations, MalformedListsAndServiceNamesAreRejected) {
    const std::vector<Migration> unordered = {{2, "b", {kSeedWidget}, {kSeedWidget}},
                                              {1, "a", {kSeedWidget}, {kSeedWidget}}};
    EXPECT_THROW(migrate(*db_, "widgets", unordered), std::invalid_argument);
    const std::vector<Migration> zero = {{0, "zero", {kSeedWidget}, {kSeedWidget}}};
    EXPECT_THROW(migrate(*db_, "widgets", zero), std::invalid_argument);
    const std::vector<Migration> no_sqlite = {{1, "mariadb only", {}, {kSeedWidget}}};
    EXPECT_THROW(migrate(*db_, "widgets", no_sqlite), std::invalid_argument);
    EXPECT_THROW(migrate(*db_, "Widgets; DROP", widget_migrations()), std::invalid_argument);
}

TEST_F(SqliteMigrations, ReplicasMigratingTogetherApplyEachMigrationOnce) {
    constexpr int kReplicas = 4;
    std::atomic<int> applied{0};
    std::vector<std::thread> replicas;
    for (int i = 0; i < kReplicas; ++i) {
        replicas.emplace_back([&] {
            try {
                auto own = open(url_);  // a Database per replica, as separate processes would have
                applied += static_cast<int>(migrate(*own, "widgets", widget_migrations()).applied.size());
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
            }
        });
    }
    for (auto& replica : replicas) replica.join();
    EXPECT_EQ(applied.load(), 3);
    EXPECT_EQ(records(*db_, "widgets"), 3);
    EXPECT_EQ(scalar(*db_, kCountWidgets), 1);
}

TEST(MariaDbMigrations, ReplicasMigratingTogetherApplyEachMigrationOnce) {
    const std::string url = testing::MariaDbServer::shared().create_database("migrations_replicas");
    constexpr int kReplicas = 4;
    std::atomic<int> applied{0};
    std::vector<std::thread> replicas;
    for (int i = 0; i < kReplicas; ++i) {
        replicas.emplace_back([&] {
            try {
                auto own = open(url);
                applied += static_cast<int>(migrate(*own, "widgets", widget_migrations()).applied.size());
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
            }
        });
    }
    for (auto& replica : replicas) replica.join();
    auto db = open(url);
    EXPECT_EQ(applied.load(), 3);
    EXPECT_EQ(records(*db, "widgets"), 3);
    EXPECT_EQ(scalar(*db, kCountWidgets), 1);  // the seed ran once
    EXPECT_EQ(schema_version(*db, "widgets"), 3);
}

TEST(MariaDbMigrations, RefusesASchemaNewerThanTheBinary) {
    auto db = open(testing::MariaDbServer::shared().create_database("migrations_too_new"));
    EXPECT_EQ(schema_version(*db, "widgets"), 0);
    migrate(*db, "widgets", widget_migrations());
    const auto older = widget_migrations();
    EXPECT_THROW(migrate(*db, "widgets", std::span(older).first(1)), SchemaTooNew);
    EXPECT_TRUE(migrate(*db, "widgets", widget_migrations()).applied.empty());
}

}  // namespace
}  // namespace olympus::sql
