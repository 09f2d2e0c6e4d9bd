#pragma once

// Versioned schema migrations per service, applied at start-up or by `olympus migrate`.
//
// A service lists its migrations in order, each with its SQL for both dialects (one statement per
// string: prepared statements run one at a time):
//
//   std::vector<sql::Migration> hera_migrations() {
//       return {
//           {1, "create users", {kCreateUsersSqlite}, {kCreateUsersMariaDb}},
//           {2, "index users by email", {kIndexEmail}, {kIndexEmail}},
//       };
//   }
//   sql::migrate(db, "hera", hera_migrations());
//
// Applied versions are recorded in schema_migrations(service, version, name, applied_at), shared by
// every service of a database. Replicas starting together are safe: they take a migration lock
// (MariaDB: GET_LOCK('olympus_migrate_<service>'); SQLite: each migration runs in a BEGIN
// IMMEDIATE transaction that re-checks what is applied), so every migration runs exactly once.
// Each migration runs in its own transaction and is recorded in it. MariaDB commits DDL
// implicitly: there a migration's statements and its record are not atomic, so keep one DDL
// statement per migration, or make them safe to run again.
//
// A database whose schema is newer than the binary (a version above the last one it knows) is
// refused with SchemaTooNew: an old binary must not write to a schema it does not understand.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sql/database.hpp"

namespace olympus::sql {

struct Migration {
    std::int64_t version;  // > 0, strictly increasing along the list
    std::string_view name;
    std::vector<std::string_view> sqlite;   // statements, in order
    std::vector<std::string_view> mariadb;  // statements, in order

    const std::vector<std::string_view>& statements(Dialect dialect) const {
        return dialect == Dialect::sqlite ? sqlite : mariadb;
    }
};

class SchemaTooNew : public Error {
  public:
    SchemaTooNew(std::string_view service, std::int64_t database_version, std::int64_t known_version);
    std::int64_t database_version() const noexcept { return database_version_; }
    std::int64_t known_version() const noexcept { return known_version_; }

  private:
    std::int64_t database_version_;
    std::int64_t known_version_;
};

struct MigrateOptions {
    // How long to wait for another replica's migration to finish (then sql::Busy).
    std::chrono::seconds lock_timeout{60};
};

struct MigrateResult {
    std::int64_t version_before = 0;  // 0: nothing applied yet
    std::int64_t version_after = 0;
    std::vector<std::int64_t> applied;  // by this call, in order
};

// Applies the pending migrations of `service`. Throws std::invalid_argument for a malformed list
// (versions not strictly increasing, a migration without statements for the database's dialect),
// SchemaTooNew, sql::Busy when the lock is not obtained in time, and the sql::Error of a failing
// statement (the failing migration is named in the log and its transaction rolled back).
MigrateResult migrate(Database& db, std::string_view service, std::span<const Migration> migrations,
                      const MigrateOptions& options = {});

// The highest version applied for `service` (0 when none, or no schema_migrations table yet).
std::int64_t schema_version(Database& db, std::string_view service);

}  // namespace olympus::sql
