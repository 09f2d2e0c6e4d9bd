#include "sql/sqlite.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <sqlite3.h>

#include "log/log.hpp"
#include "sql/statement_cache.hpp"
#include "sql/url_options.hpp"

namespace olympus::sql {

namespace {

// Fixed session settings. WAL lets readers run beside the writer; synchronous=NORMAL is durable
// in WAL except for the last transactions before a power loss (never corruption), and saves an
// fsync per commit.
constexpr const char* kWriterPragmas =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
constexpr const char* kReaderPragmas = "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;";
// The writer takes the write lock at BEGIN: a deferred transaction that reads first and then
// writes can fail with SQLITE_BUSY without waiting when another process wrote in between.
constexpr std::string_view kBeginWriter = "BEGIN IMMEDIATE";
constexpr std::string_view kBeginReader = "BEGIN";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";

constexpr std::size_t kSqlInMessages = 120;

std::string excerpt(std::string_view sql) {
    if (sql.size() <= kSqlInMessages) return std::string(sql);
    return std::string(sql.substr(0, kSqlInMessages)) + "...";
}

[[noreturn]] void throw_error(int code, const std::string& message, std::string_view sql) {
    const std::string what = "sqlite: " + message + (sql.empty() ? "" : " (in: " + excerpt(sql) + ")");
    switch (code) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY: {
            // "UNIQUE constraint failed: users.email"
            constexpr std::string_view kMarker = "constraint failed: ";
            const auto at = message.find(kMarker);
            throw UniqueViolation(what, code,
                                  at == std::string::npos ? "" : message.substr(at + kMarker.size()));
        }
        case SQLITE_CONSTRAINT_FOREIGNKEY:
            throw ForeignKeyViolation(what, code);
        default:
            break;
    }
    switch (code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            throw Busy(what, code);
        default:
            throw Error(what, code);
    }
}

class SqliteStatement final : public Statement {
  public:
    SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
    ~SqliteStatement() override { sqlite3_finalize(stmt_); }

    int parameter_count() const override { return sqlite3_bind_parameter_count(stmt_); }

    void clear() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

    ExecResult exec() override {
        int rc;
        while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) fail();
        ExecResult result{sqlite3_changes64(db_), sqlite3_last_insert_rowid(db_)};
        // A statement left unreset keeps its read snapshot open, which blocks WAL checkpoints.
        sqlite3_reset(stmt_);
        return result;
    }

    Rows query() override {
        auto result = std::make_shared<detail::ResultSet>();
        result->columns = columns();
        const int width = sqlite3_column_count(stmt_);
        int rc;
        while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
            for (int i = 0; i < width; ++i) result->values.push_back(column(i));
        }
        if (rc != SQLITE_DONE) fail();
        sqlite3_reset(stmt_);
        return Rows(std::move(result));
    }

  protected:
    void bind_null(int position) override { check(sqlite3_bind_null(stmt_, position), position); }
    void bind_int64(int position, std::int64_t value) override {
        check(sqlite3_bind_int64(stmt_, position, value), position);
    }
    void bind_double(int position, double value) override {
        check(sqlite3_bind_double(stmt_, position, value), position);
    }
    void bind_text(int position, std::string_view text) override {
        check(sqlite3_bind_text64(stmt_, position, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
              position);
    }
    void bind_blob(int position, BlobView bytes) override {
        // A zero-length blob needs a non-null pointer, else SQLite binds NULL.
        static constexpr std::uint8_t kEmpty = 0;
        check(sqlite3_bind_blob64(stmt_, position, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                                  SQLITE_TRANSIENT),
              position);
    }

  private:
    Value column(int i) {
        switch (sqlite3_column_type(stmt_, i)) {
            case SQLITE_INTEGER:
                return std::int64_t{sqlite3_column_int64(stmt_, i)};
            case SQLITE_FLOAT:
                return sqlite3_column_double(stmt_, i);
            case SQLITE_TEXT: {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
                return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
            }
            case SQLITE_BLOB: {
                const auto* bytes = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
                return Blob(bytes, bytes + sqlite3_column_bytes(stmt_, i));
            }
            default:
                return std::monostate{};
        }
    }

    // Column names, shared by every result of this statement; recomputed when a schema change
    // made SQLite re-prepare it with a different shape.
    const std::shared_ptr<const std::vector<std::string>>& columns() {
        const int width = sqlite3_column_count(stmt_);
        bool same = columns_ && columns_->size() == static_cast<std::size_t>(width);
        for (int i = 0; same && i < width; ++i)
            same = (*columns_)[static_cast<std::size_t>(i)] == sqlite3_column_name(stmt_, i);
        if (!same) {
            auto names = std::make_shared<std::vector<std::string>>();
            for (int i = 0; i < width; ++i) names->emplace_back(sqlite3_column_name(stmt_, i));
            columns_ = std::move(names);
        }
        return columns_;
    }

    void check(int rc, int position) {
        if (rc == SQLITE_OK) return;
        if (rc == SQLITE_RANGE) {
            throw Error("sqlite: no parameter " + std::to_string(position) + " (the statement takes " +
                        std::to_string(parameter_count()) + ")");
        }
        throw_error(rc, sqlite3_errstr(rc), sqlite3_sql(stmt_));
    }

    [[noreturn]] void fail() {
        const int code = sqlite3_extended_errcode(db_);
        std::string message = sqlite3_errmsg(db_);
        sqlite3_reset(stmt_);
        throw_error(code, message, sqlite3_sql(stmt_));
    }

    sqlite3* db_;
    sqlite3_stmt* stmt_;
    std::shared_ptr<const std::vector<std::string>> columns_;
};

enum class Role : std::uint8_t { writer, reader };

class SqliteConnection final : public Connection {
  public:
    SqliteConnection(const SqliteOptions& options, Role role) : role_(role) {
        // NOMUTEX: a connection is only ever used by the thread that leased it.
        const int rc =
            sqlite3_open_v2(options.path.c_str(), &db_,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        try {
            if (rc != SQLITE_OK) {
                throw Error("sqlite: cannot open '" + options.path +
                                "': " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)),
                            rc);
            }
            sqlite3_extended_result_codes(db_, 1);
            sqlite3_busy_timeout(db_, static_cast<int>(options.busy_timeout.count()));
            exec_fixed(role == Role::writer ? kWriterPragmas : kReaderPragmas);
        } catch (...) {
            sqlite3_close_v2(db_);
            throw;
        }
    }
    ~SqliteConnection() override {
        cache_.clear();  // statements are finalized before their connection closes
        sqlite3_close_v2(db_);
    }

    Dialect dialect() const override { return Dialect::sqlite; }

    Statement& prepare(std::string_view sql) override {
        if (auto* cached = cache_.find(sql)) {
            cached->clear();
            return *cached;
        }
        sqlite3_stmt* stmt = nullptr;
        const char* tail = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
        if (rc != SQLITE_OK) throw_error(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_), sql);
        if (stmt == nullptr) throw Error("sqlite: empty statement");
        auto statement = std::make_unique<SqliteStatement>(db_, stmt);
        const std::string_view rest = sql.substr(static_cast<std::size_t>(tail - sql.data()));
        if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
            throw Error("sqlite: one statement per prepare (in: " + excerpt(sql) + ")");
        }
        return cache_.insert(sql, std::move(statement));
    }

    // Rolls back a transaction its user left open, before the connection goes back to the pool.
    void abandon_transaction() noexcept {
        if (!in_transaction_) return;
        in_transaction_ = false;
        try {
            rollback_transaction();
        } catch (const std::exception& e) {
            log::error("sqlite: rollback of an abandoned transaction failed", {{"error.message", e.what()}});
        }
    }

  protected:
    void begin_transaction() override { prepare(role_ == Role::writer ? kBeginWriter : kBeginReader).exec(); }
    void commit_transaction() override { prepare(kCommit).exec(); }
    void rollback_transaction() override {
        // After some errors (SQLITE_FULL, SQLITE_IOERR...) SQLite has already rolled back.
        if (sqlite3_get_autocommit(db_)) return;
        prepare(kRollback).exec();
    }

  private:
    void exec_fixed(const char* sql) {
        char* message = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
            const std::string text = message ? message : "unknown error";
            sqlite3_free(message);
            throw_error(sqlite3_extended_errcode(db_), text, sql);
        }
    }

    sqlite3* db_ = nullptr;
    Role role_;
    StatementCache<SqliteStatement> cache_;
};

// The writer's owner per thread: a write lease taken again on the same thread would wait for
// itself until the busy timeout; it is refused at once with a message saying what to do instead.
thread_local std::vector<const void*> t_writers;

class SqliteDatabase final : public Database {
  public:
    explicit SqliteDatabase(const SqliteOptions& options) : options_(options) {
        if (options_.path.empty()) throw std::invalid_argument("sqlite: empty database path");
        const bool memory = options_.path == ":memory:";
        // A private in-memory database exists in one connection only.
        if (memory) options_.readers = 0;
        writer_ = std::make_unique<SqliteConnection>(options_, Role::writer);
        for (unsigned i = 0; i < options_.readers; ++i) {
            readers_.push_back(std::make_unique<SqliteConnection>(options_, Role::reader));
            idle_readers_.push_back(readers_.back().get());
        }
        log::info("sql: sqlite database opened", {{"db.system", "sqlite"},
                                                  {"file.path", options_.path},
                                                  {"olympus.sql.readers", options_.readers}});
    }

    Dialect dialect() const override { return Dialect::sqlite; }

    PoolStats stats() const override {
        std::lock_guard lock(readers_mutex_);
        const std::size_t open = 1 + readers_.size();
        return {open, (writer_leased_ ? 1u : 0u) + readers_.size() - idle_readers_.size(), open};
    }

  protected:
    Connection& acquire(Access access) override {
        if (access == Access::read && !readers_.empty()) {
            std::unique_lock lock(readers_mutex_);
            if (!readers_free_.wait_for(lock, options_.busy_timeout,
                                        [&] { return !idle_readers_.empty(); })) {
                throw Busy("sqlite: no reader connection free within " +
                           std::to_string(options_.busy_timeout.count()) + " ms");
            }
            SqliteConnection* reader = idle_readers_.back();
            idle_readers_.pop_back();
            return *reader;
        }
        if (std::find(t_writers.begin(), t_writers.end(), this) != t_writers.end()) {
            throw Error(
                "sqlite: this thread already holds the writer; pass its Connection down instead of "
                "calling write()/transaction() (or read() without readers) again");
        }
        if (!writer_mutex_.try_lock_for(options_.busy_timeout)) {
            throw Busy("sqlite: the writer stayed busy for " + std::to_string(options_.busy_timeout.count()) +
                       " ms");
        }
        t_writers.push_back(this);
        writer_leased_ = true;
        return *writer_;
    }

    void release(Connection& connection, Access /*access*/) noexcept override {
        auto& sqlite = static_cast<SqliteConnection&>(connection);
        sqlite.abandon_transaction();
        if (&sqlite == writer_.get()) {
            writer_leased_ = false;
            std::erase(t_writers, static_cast<const void*>(this));
            writer_mutex_.unlock();
            return;
        }
        {
            std::lock_guard lock(readers_mutex_);
            idle_readers_.push_back(&sqlite);
        }
        readers_free_.notify_one();
    }

  private:
    SqliteOptions options_;
    std::unique_ptr<SqliteConnection> writer_;
    std::timed_mutex writer_mutex_;
    std::atomic<bool> writer_leased_{false};
    std::vector<std::unique_ptr<SqliteConnection>> readers_;
    std::vector<SqliteConnection*> idle_readers_;
    mutable std::mutex readers_mutex_;
    std::condition_variable readers_free_;
};

}  // namespace

SqliteOptions parse_sqlite_url(std::string_view url) {
    constexpr std::string_view kScheme = "sqlite:";
    if (!url.starts_with(kScheme)) throw std::invalid_argument("database URL: expected sqlite:");
    std::string_view rest = url.substr(kScheme.size());
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    SqliteOptions options;
    if (rest == ":memory:") {
        options.path = ":memory:";
        options.readers = 0;
    } else {
        if (rest.starts_with("//")) rest.remove_prefix(2);
        if (rest.empty())
            throw std::invalid_argument("database URL: sqlite needs a file path (sqlite:///path.db)");
        options.path = std::string(rest);
    }
    for (const auto& [key, value] : detail::url_options(query)) {
        if (key == "readers") {
            options.readers = detail::url_number<unsigned>(key, value, 0, 64);
        } else if (key == "busy_timeout_ms") {
            options.busy_timeout =
                std::chrono::milliseconds(detail::url_number<long>(key, value, 0, 600'000));
        } else {
            throw std::invalid_argument("database URL: unknown sqlite option '" + key + "'");
        }
    }
    if (options.path == ":memory:") options.readers = 0;
    return options;
}

std::unique_ptr<Database> open_sqlite(const SqliteOptions& options) {
    return std::make_unique<SqliteDatabase>(options);
}

}  // namespace olympus::sql
