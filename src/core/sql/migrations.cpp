#include "sql/migrations.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <thread>
#include <time.h>

#include "log/log.hpp"

namespace olympus::sql {

namespace {

constexpr std::string_view kCreateTableSqlite =
    "CREATE TABLE IF NOT EXISTS schema_migrations (service TEXT NOT NULL, version INTEGER NOT NULL, "
    "name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (service, version))";
constexpr std::string_view kCreateTableMariaDb =
    "CREATE TABLE IF NOT EXISTS schema_migrations (service VARCHAR(64) NOT NULL, version BIGINT NOT NULL, "
    "name VARCHAR(255) NOT NULL, applied_at VARCHAR(32) NOT NULL, PRIMARY KEY (service, version)) "
    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
constexpr std::string_view kTableExistsSqlite =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
constexpr std::string_view kTableExistsMariaDb =
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
    "AND table_name = 'schema_migrations'";
constexpr std::string_view kAppliedVersions =
    "SELECT version FROM schema_migrations WHERE service = ? ORDER BY version";
constexpr std::string_view kIsApplied =
    "SELECT COUNT(*) FROM schema_migrations WHERE service = ? AND version = ?";
constexpr std::string_view kMaxVersion = "SELECT MAX(version) FROM schema_migrations WHERE service = ?";
constexpr std::string_view kRecord =
    "INSERT INTO schema_migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)";
// MariaDB named locks belong to the session and vanish with it (a crashed replica never leaves
// the lock behind).
constexpr std::string_view kGetLock = "SELECT GET_LOCK(?, ?)";
constexpr std::string_view kReleaseLock = "SELECT RELEASE_LOCK(?)";
constexpr std::string_view kHoldsLock = "SELECT COALESCE(IS_USED_LOCK(?) = CONNECTION_ID(), 0)";

// GET_LOCK waits in short slices: one long wait would outlast the client's read timeout.
constexpr std::int64_t kLockSliceSeconds = 5;
constexpr std::size_t kMaxServiceName = 48;  // lock names are at most 64 characters

std::string now_rfc3339() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

void validate(std::string_view service, std::span<const Migration> migrations, Dialect dialect) {
    if (service.empty() || service.size() > kMaxServiceName ||
        !std::all_of(service.begin(), service.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        })) {
        throw std::invalid_argument("migrations: service name must be 1-48 of [a-z0-9_-]: '" +
                                    std::string(service) + "'");
    }
    std::int64_t previous = 0;
    for (const auto& migration : migrations) {
        if (migration.version <= previous) {
            throw std::invalid_argument("migrations of " + std::string(service) + ": version " +
                                        std::to_string(migration.version) + " does not follow " +
                                        std::to_string(previous) + " (versions start at 1 and increase)");
        }
        if (migration.statements(dialect).empty()) {
            throw std::invalid_argument("migrations of " + std::string(service) + ": version " +
                                        std::to_string(migration.version) + " has no " +
                                        std::string(to_string(dialect)) + " statements");
        }
        previous = migration.version;
    }
}

std::int64_t max_version(Connection& c, std::string_view service) {
    return c.query_one(kMaxVersion, service)->get<std::optional<std::int64_t>>(0).value_or(0);
}

void refuse_if_newer(std::string_view service, std::int64_t database_version, std::int64_t known) {
    if (database_version > known) throw SchemaTooNew(service, database_version, known);
}

// The MariaDB migration lock, held by this session for the whole run.
class NamedLock {
  public:
    NamedLock(Connection& c, std::string name, std::chrono::seconds timeout) : c_(c), name_(std::move(name)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now())
                    .count();
            const std::int64_t slice = std::clamp<std::int64_t>(left, 0, kLockSliceSeconds);
            const auto got = c_.query_one(kGetLock, name_, slice)->get<std::optional<std::int64_t>>(0);
            if (got == 1) return;
            if (!got) throw Error("migrations: GET_LOCK('" + name_ + "') failed");
            if (left <= 0) {
                throw Busy("migrations: lock '" + name_ + "' still held by another replica after " +
                           std::to_string(timeout.count()) + " s");
            }
        }
    }
    ~NamedLock() {
        try {
            c_.query_one(kReleaseLock, name_);
        } catch (const std::exception&) {
            // Lost with the session, which released it.
        }
    }
    NamedLock(const NamedLock&) = delete;
    NamedLock& operator=(const NamedLock&) = delete;

    // A session lost and silently replaced between statements would have lost the lock with it.
    void check_held() {
        if (c_.query_one(kHoldsLock, name_)->get<std::int64_t>(0) != 1) {
            throw ConnectionLost("migrations: the session holding lock '" + name_ + "' was lost; run again");
        }
    }

  private:
    Connection& c_;
    std::string name_;
};

}  // namespace

SchemaTooNew::SchemaTooNew(std::string_view service, std::int64_t database_version,
                           std::int64_t known_version)
    : Error("the database schema of " + std::string(service) + " is at version " +
            std::to_string(database_version) + ", newer than version " + std::to_string(known_version) +
            ", the latest this binary knows; run a newer release"),
      database_version_(database_version),
      known_version_(known_version) {}

MigrateResult migrate(Database& db, std::string_view service, std::span<const Migration> migrations,
                      const MigrateOptions& options) {
    const Dialect dialect = db.dialect();
    validate(service, migrations, dialect);
    const std::int64_t known = migrations.empty() ? 0 : migrations.back().version;
    const std::string name(service);

    return db.write([&](Connection& c) {
        std::optional<NamedLock> lock;
        if (dialect == Dialect::mariadb) lock.emplace(c, "olympus_migrate_" + name, options.lock_timeout);
        c.exec(dialect == Dialect::sqlite ? kCreateTableSqlite : kCreateTableMariaDb);

        MigrateResult result;
        std::set<std::int64_t> applied;
        for (const Row row : c.query(kAppliedVersions, service)) applied.insert(row.get<std::int64_t>(0));
        result.version_before = applied.empty() ? 0 : *applied.rbegin();
        refuse_if_newer(service, result.version_before, known);

        for (const auto& migration : migrations) {
            if (applied.contains(migration.version)) continue;
            if (lock) lock->check_held();
            Transaction tx(c);
            if (dialect == Dialect::sqlite) {
                // Another process may have migrated since the list was read; under BEGIN IMMEDIATE
                // nobody else can until this transaction ends.
                refuse_if_newer(service, max_version(c, service), known);
                if (c.query_one(kIsApplied, service, migration.version)->get<std::int64_t>(0) > 0) {
                    tx.commit();
                    continue;
                }
            }
            try {
                for (const auto statement : migration.statements(dialect)) c.exec(statement);
                c.exec(kRecord, service, migration.version, migration.name, now_rfc3339());
                tx.commit();
            } catch (const std::exception& e) {
                log::error("migration failed", {{"olympus.migration.service", service},
                                                {"olympus.migration.version", migration.version},
                                                {"olympus.migration.name", migration.name},
                                                {"error.message", e.what()}});
                throw;
            }
            result.applied.push_back(migration.version);
            log::info("migration applied", {{"olympus.migration.service", service},
                                            {"olympus.migration.version", migration.version},
                                            {"olympus.migration.name", migration.name}});
        }
        result.version_after = max_version(c, service);
        return result;
    });
}

std::int64_t schema_version(Database& db, std::string_view service) {
    return db.read([&](Connection& c) -> std::int64_t {
        const auto exists =
            c.query_one(c.dialect() == Dialect::sqlite ? kTableExistsSqlite : kTableExistsMariaDb)
                ->get<std::int64_t>(0);
        if (exists == 0) return 0;
        return max_version(c, service);
    });
}

}  // namespace olympus::sql
