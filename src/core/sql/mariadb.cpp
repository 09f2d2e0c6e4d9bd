#include "sql/mariadb.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <errmsg.h>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <boost/url/parse.hpp>
#include <mysql.h>
#include <mysqld_error.h>

#include "log/log.hpp"
#include "sql/statement_cache.hpp"
#include "sql/url_options.hpp"

namespace olympus::sql {

namespace {

// Fixed session settings, run on every new session. Strict mode turns silent truncation and
// invalid values into errors; UTC makes NOW() agree with the RFC 3339 UTC times the services use.
constexpr const char* kSetNames = "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci";
constexpr const char* kSetSqlMode =
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION'";
constexpr const char* kSetTimeZone = "SET SESSION time_zone = '+00:00'";
constexpr const char* kBegin = "START TRANSACTION";
constexpr const char* kBeginReadOnly = "START TRANSACTION READ ONLY";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";

constexpr std::size_t kSqlInMessages = 120;

std::string excerpt(std::string_view sql) {
    if (sql.size() <= kSqlInMessages) return std::string(sql);
    return std::string(sql.substr(0, kSqlInMessages)) + "...";
}

// The session is gone: the server restarted or closed it, or the network dropped.
bool session_lost(unsigned code) {
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST || code == CR_SERVER_LOST_EXTENDED ||
           code == ER_CONNECTION_KILLED || code == ER_SERVER_SHUTDOWN;
}

[[noreturn]] void throw_error(unsigned code, std::string_view message, std::string_view sql) {
    const std::string what =
        "mariadb: " + std::string(message) + (sql.empty() ? "" : " (in: " + excerpt(sql) + ")");
    const int native = static_cast<int>(code);
    switch (code) {
        case ER_DUP_ENTRY:
        case ER_DUP_ENTRY_WITH_KEY_NAME: {
            // "Duplicate entry 'x' for key 'items_name'"
            constexpr std::string_view kMarker = "for key '";
            const auto at = message.rfind(kMarker);
            std::string key;
            if (at != std::string_view::npos) {
                key = std::string(message.substr(at + kMarker.size()));
                if (!key.empty() && key.back() == '\'') key.pop_back();
            }
            throw UniqueViolation(what, native, key);
        }
        case ER_NO_REFERENCED_ROW:
        case ER_NO_REFERENCED_ROW_2:
        case ER_ROW_IS_REFERENCED:
        case ER_ROW_IS_REFERENCED_2:
            throw ForeignKeyViolation(what, native);
        case ER_LOCK_WAIT_TIMEOUT:
        case ER_LOCK_DEADLOCK:
        case ER_STATEMENT_TIMEOUT:
            throw Busy(what, native);
        case CR_CONNECTION_ERROR:
        case CR_CONN_HOST_ERROR:
            throw ConnectionLost(what, native);
        default:
            break;
    }
    if (session_lost(code)) throw ConnectionLost(what, native);
    throw Error(what, native);
}

// Thrown inside one attempt when the session is gone, so that the attempt can be retried.
struct SessionLost {
    unsigned code;
    std::string message;
    std::string sql;
};

void library_init() {
    // Not thread-safe itself, and implied by mysql_init: run once before any connection.
    static std::once_flag once;
    std::call_once(once, [] {
        if (mysql_library_init(0, nullptr, nullptr) != 0) throw Error("mariadb: client library init failed");
    });
}

class MariaDbStatement;

class MariaDbConnection final : public Connection {
  public:
    explicit MariaDbConnection(const MariaDbOptions& options) : options_(options) { connect(); }
    ~MariaDbConnection() override { close(); }

    Dialect dialect() const override { return Dialect::mariadb; }
    Statement& prepare(std::string_view sql) override;

    MYSQL* handle() const { return mysql_; }
    bool broken() const { return broken_; }
    void mark_broken() { broken_ = true; }
    void set_read_only(bool read_only) { read_only_ = read_only; }
    std::chrono::steady_clock::time_point last_used() const { return last_used_; }
    void touch() { last_used_ = std::chrono::steady_clock::now(); }

    bool ping() { return !broken_ && mysql_ping(mysql_) == 0; }

    // A new session in place of a lost one; cached statements are prepared again on next use.
    void reconnect();

    // Runs `attempt`; when it finds the session gone outside a transaction, reconnects and runs it
    // once more. Inside a transaction, or on the second loss, the caller gets ConnectionLost.
    template <class F>
    decltype(auto) with_retry(F&& attempt) {
        for (int tries = 0;; ++tries) {
            try {
                return attempt();
            } catch (const SessionLost& lost) {
                broken_ = true;
                if (in_transaction_ || tries > 0) {
                    throw_error(lost.code,
                                lost.message + (in_transaction_ ? "; the transaction is lost" : ""),
                                lost.sql);
                }
                log::warn("sql: mariadb session lost; reconnecting",
                          {{"error.code", std::to_string(lost.code)}, {"error.message", lost.message}});
                reconnect();
            }
        }
    }

    void abandon_transaction() noexcept {
        if (!in_transaction_) return;
        in_transaction_ = false;
        try {
            rollback_transaction();
        } catch (const std::exception&) {
            broken_ = true;
        }
    }

  protected:
    void begin_transaction() override {
        with_retry([&] { run_fixed(read_only_ ? kBeginReadOnly : kBegin); });
    }
    void commit_transaction() override { run_checked(kCommit); }
    void rollback_transaction() override {
        // The server already dropped the transaction with the session.
        if (broken_) return;
        run_checked(kRollback);
    }

  private:
    void connect();
    void close() noexcept;

    // A fixed statement (no values in it, ever); throws SessionLost when the session is gone.
    void run_fixed(const char* sql) {
        if (mysql_real_query(mysql_, sql, std::strlen(sql)) != 0) {
            const unsigned code = mysql_errno(mysql_);
            if (session_lost(code)) throw SessionLost{code, mysql_error(mysql_), sql};
            throw_error(code, mysql_error(mysql_), sql);
        }
    }
    void run_checked(const char* sql) {
        try {
            run_fixed(sql);
        } catch (const SessionLost& lost) {
            broken_ = true;
            throw_error(lost.code, lost.message, lost.sql);
        }
    }

    const MariaDbOptions& options_;
    MYSQL* mysql_ = nullptr;
    bool broken_ = false;
    bool read_only_ = false;
    std::chrono::steady_clock::time_point last_used_ = std::chrono::steady_clock::now();
    StatementCache<MariaDbStatement> cache_;
};

class MariaDbStatement final : public Statement {
  public:
    MariaDbStatement(MariaDbConnection& connection, std::string_view sql)
        : connection_(connection), sql_(sql) {
        prepare();
    }
    ~MariaDbStatement() override { drop_handle(); }

    int parameter_count() const override { return static_cast<int>(params_.size()); }

    void clear() {
        for (auto& param : params_) param.type = MYSQL_TYPE_NULL;
    }

    // Frees the handle of a session that was closed (no network traffic then).
    void drop_handle() noexcept {
        if (stmt_ != nullptr) mysql_stmt_close(stmt_);
        stmt_ = nullptr;
    }

    ExecResult exec() override {
        return connection_.with_retry([&] {
            execute();
            ExecResult result{static_cast<std::int64_t>(mysql_stmt_affected_rows(stmt_)),
                              static_cast<std::int64_t>(mysql_stmt_insert_id(stmt_))};
            if (mysql_stmt_field_count(stmt_) > 0) {
                if (mysql_stmt_store_result(stmt_) != 0) fail();
                mysql_stmt_free_result(stmt_);
            }
            return result;
        });
    }

    Rows query() override {
        return connection_.with_retry([&] {
            execute();
            return fetch_all();
        });
    }

    // Prepares on the current session, when the handle was dropped by a reconnect.
    void prepare() {
        if (stmt_ != nullptr) return;
        stmt_ = mysql_stmt_init(connection_.handle());
        if (stmt_ == nullptr) throw Error("mariadb: out of memory preparing a statement");
        // Lets store_result compute each column's longest value, so buffers are sized once.
        const my_bool update_max_length = 1;
        mysql_stmt_attr_set(stmt_, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
        if (mysql_stmt_prepare(stmt_, sql_.data(), sql_.size()) != 0) {
            // The handle goes with the error: a statement whose constructor throws is never destroyed.
            const unsigned code = mysql_stmt_errno(stmt_);
            const std::string message = mysql_stmt_error(stmt_);
            drop_handle();
            if (session_lost(code)) throw SessionLost{code, message, sql_};
            throw_error(code, message, sql_);
        }
        const auto count = mysql_stmt_param_count(stmt_);
        if (params_.size() != count) {
            params_.resize(count);
            param_binds_.resize(count);
        }
        columns_.reset();
    }

  protected:
    void bind_null(int position) override { param(position).type = MYSQL_TYPE_NULL; }
    void bind_int64(int position, std::int64_t value) override {
        Param& p = param(position);
        p.type = MYSQL_TYPE_LONGLONG;
        p.integer = value;
    }
    void bind_double(int position, double value) override {
        Param& p = param(position);
        p.type = MYSQL_TYPE_DOUBLE;
        p.real = value;
    }
    void bind_text(int position, std::string_view text) override {
        Param& p = param(position);
        p.type = MYSQL_TYPE_STRING;
        p.bytes.assign(text);
    }
    void bind_blob(int position, BlobView bytes) override {
        Param& p = param(position);
        p.type = MYSQL_TYPE_BLOB;
        p.bytes.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }

  private:
    // Values are kept here (their buffers reused from one execution to the next) so that a
    // statement can be replayed on a new session.
    struct Param {
        enum_field_types type = MYSQL_TYPE_NULL;
        std::int64_t integer = 0;
        double real = 0;
        std::string bytes;
        unsigned long length = 0;
    };

    enum class Kind : std::uint8_t { null, integer, real, text, blob };
    struct Column {
        Kind kind = Kind::text;
        bool is_unsigned = false;
        std::int64_t integer = 0;
        double real = 0;
        std::string buffer;
        unsigned long length = 0;
        my_bool is_null = 0;
        my_bool error = 0;
    };

    Param& param(int position) {
        if (position < 1 || static_cast<std::size_t>(position) > params_.size()) {
            throw Error("mariadb: no parameter " + std::to_string(position) + " (the statement takes " +
                        std::to_string(params_.size()) + ")");
        }
        return params_[static_cast<std::size_t>(position - 1)];
    }

    // Reports the statement's error; a lost session becomes SessionLost for with_retry.
    [[noreturn]] void fail() {
        const unsigned code = mysql_stmt_errno(stmt_);
        const std::string message = mysql_stmt_error(stmt_);
        if (session_lost(code)) throw SessionLost{code, message, sql_};
        mysql_stmt_free_result(stmt_);
        throw_error(code, message, sql_);
    }

    void execute() {
        prepare();
        for (std::size_t i = 0; i < params_.size(); ++i) {
            Param& p = params_[i];
            MYSQL_BIND& bind = param_binds_[i];
            bind = MYSQL_BIND{};
            bind.buffer_type = p.type;
            switch (p.type) {
                case MYSQL_TYPE_LONGLONG:
                    bind.buffer = &p.integer;
                    break;
                case MYSQL_TYPE_DOUBLE:
                    bind.buffer = &p.real;
                    break;
                case MYSQL_TYPE_STRING:
                case MYSQL_TYPE_BLOB:
                    p.length = p.bytes.size();
                    bind.buffer = p.bytes.data();
                    bind.buffer_length = p.length;
                    bind.length = &p.length;
                    break;
                default:
                    break;
            }
        }
        if (!params_.empty() && mysql_stmt_bind_param(stmt_, param_binds_.data()) != 0) fail();
        if (mysql_stmt_execute(stmt_) != 0) fail();
    }

    static Kind kind_of(const MYSQL_FIELD& field) {
        switch (field.type) {
            case MYSQL_TYPE_TINY:
            case MYSQL_TYPE_SHORT:
            case MYSQL_TYPE_INT24:
            case MYSQL_TYPE_LONG:
            case MYSQL_TYPE_LONGLONG:
            case MYSQL_TYPE_YEAR:
                return Kind::integer;
            case MYSQL_TYPE_FLOAT:
            case MYSQL_TYPE_DOUBLE:
                return Kind::real;
            case MYSQL_TYPE_NULL:
                return Kind::null;
            case MYSQL_TYPE_TINY_BLOB:
            case MYSQL_TYPE_MEDIUM_BLOB:
            case MYSQL_TYPE_LONG_BLOB:
            case MYSQL_TYPE_BLOB:
            case MYSQL_TYPE_STRING:
            case MYSQL_TYPE_VAR_STRING:
            case MYSQL_TYPE_VARCHAR:
            case MYSQL_TYPE_BIT:
            case MYSQL_TYPE_GEOMETRY:
                // Character set 63 is "binary": BLOB, BINARY, VARBINARY.
                return field.charsetnr == 63 ? Kind::blob : Kind::text;
            default:
                return Kind::text;  // DECIMAL, dates and times: their canonical text form
        }
    }

    void bind_results(MYSQL_FIELD* fields, unsigned count) {
        for (unsigned i = 0; i < count; ++i) {
            Column& column = results_[i];
            MYSQL_BIND& bind = result_binds_[i];
            bind = MYSQL_BIND{};
            bind.is_null = &column.is_null;
            bind.error = &column.error;
            bind.length = &column.length;
            switch (column.kind) {
                case Kind::null:
                    bind.buffer_type = MYSQL_TYPE_NULL;
                    break;
                case Kind::integer:
                    bind.buffer_type = MYSQL_TYPE_LONGLONG;
                    bind.buffer = &column.integer;
                    bind.is_unsigned = column.is_unsigned;
                    break;
                case Kind::real:
                    bind.buffer_type = MYSQL_TYPE_DOUBLE;
                    bind.buffer = &column.real;
                    break;
                case Kind::text:
                case Kind::blob: {
                    // Temporal and decimal columns report no max_length: their text fits in field.length.
                    const std::size_t wanted =
                        std::max<std::size_t>({fields[i].max_length,
                                               column.kind == Kind::text && fields[i].max_length == 0
                                                   ? std::min<std::size_t>(fields[i].length, 128)
                                                   : 0,
                                               1});
                    if (column.buffer.size() < wanted) column.buffer.resize(wanted);
                    bind.buffer_type = column.kind == Kind::text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
                    bind.buffer = column.buffer.data();
                    bind.buffer_length = column.buffer.size();
                    break;
                }
            }
        }
        if (mysql_stmt_bind_result(stmt_, result_binds_.data()) != 0) fail();
    }

    Value value_of(Column& column, unsigned index) {
        if (column.is_null) return std::monostate{};
        switch (column.kind) {
            case Kind::null:
                return std::monostate{};
            case Kind::integer:
                if (column.is_unsigned && column.integer < 0) {
                    throw Error("mariadb: column '" + (*columns_)[index] +
                                "' holds an unsigned value above the 64-bit signed range");
                }
                return column.integer;
            case Kind::real:
                return column.real;
            case Kind::text:
            case Kind::blob: {
                if (column.length > column.buffer.size()) {
                    // Longer than the buffer (max_length unknown for this type): fetch it whole.
                    column.buffer.resize(column.length);
                    MYSQL_BIND& bind = result_binds_[index];
                    bind.buffer = column.buffer.data();
                    bind.buffer_length = column.buffer.size();
                    if (mysql_stmt_fetch_column(stmt_, &bind, index, 0) != 0) fail();
                    rebind_ = true;
                }
                if (column.kind == Kind::text) return std::string(column.buffer.data(), column.length);
                const auto* bytes = reinterpret_cast<const std::uint8_t*>(column.buffer.data());
                return Blob(bytes, bytes + column.length);
            }
        }
        return std::monostate{};
    }

    Rows fetch_all() {
        auto result = std::make_shared<detail::ResultSet>();
        const unsigned width = mysql_stmt_field_count(stmt_);
        if (width == 0) {
            result->columns = std::make_shared<const std::vector<std::string>>();
            return Rows(std::move(result));
        }
        if (mysql_stmt_store_result(stmt_) != 0) fail();
        MYSQL_RES* metadata = mysql_stmt_result_metadata(stmt_);
        if (metadata == nullptr) fail();
        struct FreeMetadata {
            MYSQL_RES* res;
            ~FreeMetadata() { mysql_free_result(res); }
        } free_metadata{metadata};
        MYSQL_FIELD* fields = mysql_fetch_fields(metadata);

        if (!columns_ || columns_->size() != width) {
            auto names = std::make_shared<std::vector<std::string>>();
            for (unsigned i = 0; i < width; ++i) names->emplace_back(fields[i].name, fields[i].name_length);
            columns_ = std::move(names);
        }
        result->columns = columns_;
        results_.resize(width);
        result_binds_.resize(width);
        for (unsigned i = 0; i < width; ++i) {
            results_[i].kind = kind_of(fields[i]);
            results_[i].is_unsigned = (fields[i].flags & UNSIGNED_FLAG) != 0;
        }
        bind_results(fields, width);
        result->values.reserve(static_cast<std::size_t>(mysql_stmt_num_rows(stmt_)) * width);
        for (;;) {
            const int rc = mysql_stmt_fetch(stmt_);
            if (rc == MYSQL_NO_DATA) break;
            if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) fail();
            for (unsigned i = 0; i < width; ++i) result->values.push_back(value_of(results_[i], i));
            if (rebind_) {
                rebind_ = false;
                if (mysql_stmt_bind_result(stmt_, result_binds_.data()) != 0) fail();
            }
        }
        mysql_stmt_free_result(stmt_);
        return Rows(std::move(result));
    }

    MariaDbConnection& connection_;
    std::string sql_;
    MYSQL_STMT* stmt_ = nullptr;
    std::vector<Param> params_;
    std::vector<MYSQL_BIND> param_binds_;
    std::vector<Column> results_;
    std::vector<MYSQL_BIND> result_binds_;
    std::shared_ptr<const std::vector<std::string>> columns_;
    bool rebind_ = false;
};

Statement& MariaDbConnection::prepare(std::string_view sql) {
    if (auto* cached = cache_.find(sql)) {
        cached->clear();
        return *cached;
    }
    return with_retry(
        [&]() -> Statement& { return cache_.insert(sql, std::make_unique<MariaDbStatement>(*this, sql)); });
}

void MariaDbConnection::connect() {
    library_init();
    mysql_ = mysql_init(nullptr);
    if (mysql_ == nullptr) throw Error("mariadb: out of memory");
    const auto seconds = [](std::chrono::seconds s) { return static_cast<unsigned>(s.count()); };
    const unsigned connect_timeout = seconds(options_.connect_timeout);
    const unsigned read_timeout = seconds(options_.read_timeout);
    const unsigned write_timeout = seconds(options_.write_timeout);
    // Reconnecting is ours to do: the library's silent reconnect would lose session settings,
    // prepared statements and transactions without telling anyone.
    const my_bool reconnect = 0;
    const unsigned protocol = options_.socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
    mysql_options(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(mysql_, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
    mysql_options(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
    mysql_options(mysql_, MYSQL_OPT_RECONNECT, &reconnect);
    mysql_options(mysql_, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_options(mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    // CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, as SQLite does, so that optimistic
    // version checks read the same on both engines.
    if (mysql_real_connect(mysql_, options_.socket.empty() ? options_.host.c_str() : nullptr,
                           options_.user.c_str(), options_.password.c_str(), options_.database.c_str(),
                           options_.port, options_.socket.empty() ? nullptr : options_.socket.c_str(),
                           CLIENT_FOUND_ROWS) == nullptr) {
        const unsigned code = mysql_errno(mysql_);
        const std::string message = mysql_error(mysql_);
        close();
        broken_ = true;
        const std::string what = "cannot connect to " + options_.describe() + ": " + message;
        if (code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR || session_lost(code)) {
            throw ConnectionLost("mariadb: " + what, static_cast<int>(code));
        }
        throw Error("mariadb: " + what, static_cast<int>(code));
    }
    try {
        run_checked(kSetNames);
        run_checked(kSetSqlMode);
        run_checked(kSetTimeZone);
    } catch (...) {
        close();
        broken_ = true;
        throw;
    }
    broken_ = false;
    touch();
}

void MariaDbConnection::close() noexcept {
    if (mysql_ == nullptr) return;
    // Closing the session first detaches its statements, which are then freed without traffic.
    mysql_close(mysql_);
    mysql_ = nullptr;
    cache_.for_each([](MariaDbStatement& statement) { statement.drop_handle(); });
}

void MariaDbConnection::reconnect() {
    close();
    connect();
}

class MariaDbDatabase final : public Database {
  public:
    explicit MariaDbDatabase(const MariaDbOptions& options) : options_(options) {
        if (options_.pool_size == 0) throw std::invalid_argument("mariadb: pool_size must be at least 1");
        library_init();
        // One connection now: a wrong password or an unreachable server fails the start-up.
        idle_.push_back(std::make_unique<MariaDbConnection>(options_));
        open_ = 1;
        log::info("sql: mariadb pool ready",
                  {{"db.system", "mariadb"},
                   {"server.address", options_.socket.empty() ? options_.host : options_.socket},
                   {"server.port", options_.port},
                   {"db.name", options_.database},
                   {"olympus.sql.pool_size", options_.pool_size}});
    }

    Dialect dialect() const override { return Dialect::mariadb; }

    PoolStats stats() const override {
        std::lock_guard lock(mutex_);
        return {open_, in_use_, options_.pool_size};
    }

  protected:
    Connection& acquire(Access access) override {
        std::unique_ptr<MariaDbConnection> connection;
        bool fresh = false;
        {
            std::unique_lock lock(mutex_);
            const auto deadline = std::chrono::steady_clock::now() + options_.checkout_timeout;
            for (;;) {
                if (!idle_.empty()) {
                    // Most recently used first: the least likely to have timed out on the server.
                    connection = std::move(idle_.back());
                    idle_.pop_back();
                    break;
                }
                if (open_ < options_.pool_size) {
                    ++open_;
                    fresh = true;
                    break;
                }
                if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
                    open_ >= options_.pool_size) {
                    throw Busy("mariadb: no pooled connection free within " +
                               std::to_string(options_.checkout_timeout.count()) + " ms (pool_size " +
                               std::to_string(options_.pool_size) + ")");
                }
            }
            ++in_use_;
        }
        try {
            if (fresh) {
                connection = std::make_unique<MariaDbConnection>(options_);
            } else if (std::chrono::steady_clock::now() - connection->last_used() > options_.idle_check &&
                       !connection->ping()) {
                log::info("sql: mariadb idle connection failed its ping; reconnecting");
                connection->reconnect();
            }
        } catch (...) {
            connection.reset();
            forget_one();
            throw;
        }
        connection->set_read_only(access == Access::read);
        return *connection.release();
    }

    void release(Connection& leased, Access /*access*/) noexcept override {
        std::unique_ptr<MariaDbConnection> connection(static_cast<MariaDbConnection*>(&leased));
        connection->abandon_transaction();
        if (connection->broken()) {
            connection.reset();  // a new one is opened when needed
            forget_one();
            return;
        }
        connection->touch();
        {
            std::lock_guard lock(mutex_);
            idle_.push_back(std::move(connection));
            --in_use_;
        }
        available_.notify_one();
    }

  private:
    void forget_one() noexcept {
        {
            std::lock_guard lock(mutex_);
            --open_;
            --in_use_;
        }
        available_.notify_one();
    }

    MariaDbOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<MariaDbConnection>> idle_;
    std::size_t open_ = 0;
    std::size_t in_use_ = 0;
};

}  // namespace

std::string MariaDbOptions::describe() const {
    std::string text = "mariadb://" + user + "@";
    if (socket.empty()) {
        text += host + ":" + std::to_string(port);
    } else {
        text += "localhost";
    }
    text += "/" + database;
    if (!socket.empty()) text += "?socket=" + socket;
    return text;
}

MariaDbOptions parse_mariadb_url(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) throw std::invalid_argument("database URL: malformed (" + redact_url(url) + ")");
    const auto& u = *parsed;
    if (u.scheme() != "mariadb" && u.scheme() != "mysql") {
        throw std::invalid_argument("database URL: expected mariadb:// or mysql://");
    }
    MariaDbOptions options;
    options.user = u.user();
    options.password = u.password();
    if (!u.host_address().empty()) options.host = u.host_address();
    if (u.has_port()) {
        if (u.port_number() == 0) throw std::invalid_argument("database URL: bad port");
        options.port = u.port_number();
    }
    std::string path = u.path();
    if (!path.empty() && path.front() == '/') path.erase(0, 1);
    options.database = path;
    if (options.user.empty())
        throw std::invalid_argument("database URL: mariadb needs a user (mariadb://user:pass@host/db)");
    if (options.database.empty())
        throw std::invalid_argument("database URL: mariadb needs a database name (…/db)");
    for (const auto& [key, value] : detail::url_options(u.encoded_query())) {
        if (key == "socket") {
            options.socket = value;
        } else if (key == "pool_size") {
            options.pool_size = detail::url_number<unsigned>(key, value, 1, 1000);
        } else if (key == "checkout_timeout_ms") {
            options.checkout_timeout =
                std::chrono::milliseconds(detail::url_number<long>(key, value, 0, 600'000));
        } else if (key == "idle_check_s") {
            options.idle_check = std::chrono::seconds(detail::url_number<long>(key, value, 0, 86'400));
        } else if (key == "connect_timeout_s") {
            options.connect_timeout = std::chrono::seconds(detail::url_number<long>(key, value, 1, 600));
        } else if (key == "read_timeout_s") {
            options.read_timeout = std::chrono::seconds(detail::url_number<long>(key, value, 1, 86'400));
        } else if (key == "write_timeout_s") {
            options.write_timeout = std::chrono::seconds(detail::url_number<long>(key, value, 1, 86'400));
        } else {
            throw std::invalid_argument("database URL: unknown mariadb option '" + key + "'");
        }
    }
    return options;
}

std::unique_ptr<Database> open_mariadb(const MariaDbOptions& options) {
    return std::make_unique<MariaDbDatabase>(options);
}

}  // namespace olympus::sql
