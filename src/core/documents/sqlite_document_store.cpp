#include "documents/sqlite_document_store.hpp"

#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <boost/json/parse.hpp>
#include <sqlite3.h>

namespace olympus::documents {

namespace {

// ---- SQLite plumbing ----------------------------------------------------------------------------

std::string table_of(std::string_view collection) {
    return "\"doc_" + std::string(collection) + "\"";
}
std::string column_of(std::string_view field) {
    return "\"f_" + std::string(field) + "\"";
}
// Index names are global to the schema; ':' cannot occur in collection or field names, so these
// never collide however the names are chosen.
std::string index_name(std::string_view collection, std::string_view field, bool unique) {
    return std::string(unique ? "ux:" : "ix:") + std::string(collection) + ":" + std::string(field);
}

// Maps a failed SQLite call to the store's typed errors. `collection` names the table a constraint
// belongs to, so that a unique violation can name its field.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view doing, std::string_view collection = {}) {
    std::string message =
        std::string(doing) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    switch (rc) {
        case SQLITE_CONSTRAINT_PRIMARYKEY:
            throw DuplicateKey(std::string(collection), "id", message);
        case SQLITE_CONSTRAINT_UNIQUE: {
            // "UNIQUE constraint failed: doc_orders.f_email" (or ".id")
            std::string field = "id";
            std::size_t dot = message.rfind('.');
            if (dot != std::string::npos && message.compare(dot + 1, 2, "f_") == 0)
                field = message.substr(dot + 3);
            throw DuplicateKey(std::string(collection), field, message);
        }
        default:
            break;
    }
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN:
        case SQLITE_FULL:
        case SQLITE_READONLY:
            throw StoreUnavailable(message);
        default:
            throw StoreFailure(message);
    }
}

class Statement;

class Connection {
  public:
    Connection(const std::string& path, bool read_only, const SqliteDocumentOptions& options) {
        int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
        int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
        if (rc != SQLITE_OK) {
            std::string message =
                "open " + path + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
            sqlite3_close_v2(db_);
            db_ = nullptr;
            throw StoreUnavailable(message);
        }
        sqlite3_busy_timeout(db_, static_cast<int>(options.busy_timeout.count()));
        if (!read_only) {
            // WAL: readers never block the writer nor the writer them.
            exec("PRAGMA journal_mode=WAL");
            exec(options.sync_every_commit ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        }
    }
    ~Connection() {
        for (auto& entry : cache_) sqlite3_finalize(entry.second);
        sqlite3_close_v2(db_);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    sqlite3* db() const { return db_; }

    void exec(const std::string& sql, std::string_view collection = {}) {
        int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) fail(db_, sqlite3_extended_errcode(db_), sql, collection);
    }

    // A prepared statement kept for reuse: the store issues a small set of statement shapes.
    sqlite3_stmt* prepare(const std::string& sql) {
        auto it = cache_.find(sql);
        if (it != cache_.end()) return it->second;
        // Bounds the cache should queries be built with many different shapes.
        if (cache_.size() >= kMaxCachedStatements) {
            for (auto& entry : cache_) sqlite3_finalize(entry.second);
            cache_.clear();
        }
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt, nullptr);
        if (rc != SQLITE_OK) fail(db_, rc, "prepare " + sql);
        cache_.emplace(sql, stmt);
        return stmt;
    }

  private:
    static constexpr std::size_t kMaxCachedStatements = 256;
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// One use of a cached statement: bound, stepped, and reset when it goes out of scope.
class Statement {
  public:
    Statement(Connection& connection, const std::string& sql, std::string_view collection = {})
        : connection_(connection), stmt_(connection.prepare(sql)), collection_(collection) {}
    ~Statement() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(std::string_view text) {
        check(sqlite3_bind_text64(stmt_, ++index_, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
        return *this;
    }
    Statement& bind(std::int64_t number) {
        check(sqlite3_bind_int64(stmt_, ++index_, number));
        return *this;
    }
    // A filter or cursor value, already checked against the field's type.
    Statement& bind(const boost::json::value& value) {
        switch (value.kind()) {
            case boost::json::kind::string:
                return bind(std::string_view(value.get_string()));
            case boost::json::kind::bool_:
                // json_extract() yields 1 and 0 for true and false.
                return bind(std::int64_t{value.get_bool() ? 1 : 0});
            case boost::json::kind::int64:
            case boost::json::kind::uint64:
                return bind(value.to_number<std::int64_t>());
            case boost::json::kind::double_:
                check(sqlite3_bind_double(stmt_, ++index_, value.get_double()));
                return *this;
            default:
                check(sqlite3_bind_null(stmt_, ++index_));
                return *this;
        }
    }

    // True while a row is available.
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(connection_.db(), sqlite3_extended_errcode(connection_.db()), sqlite3_sql(stmt_), collection_);
    }

    std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
    std::string_view text(int column) const {
        const unsigned char* data = sqlite3_column_text(stmt_, column);
        return {reinterpret_cast<const char*>(data),
                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
    }

  private:
    void check(int rc) {
        if (rc != SQLITE_OK) fail(connection_.db(), rc, "bind");
    }

    Connection& connection_;
    sqlite3_stmt* stmt_;
    std::string_view collection_;
    int index_ = 0;
};

boost::json::object parse_body(std::string_view text) {
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(text, ec);
    if (ec || !value.is_object()) throw StoreFailure("stored document is not a JSON object");
    return std::move(value.get_object());
}

// ---- the operations, on whichever connection the caller holds -----------------------------------

std::optional<Document> get_on(Connection& c, const CollectionSpec& spec, std::string_view id) {
    Statement select(c, "SELECT version, doc FROM " + table_of(spec.name) + " WHERE id = ?", spec.name);
    select.bind(id);
    if (!select.step()) return std::nullopt;
    return Document{std::string(id), select.integer(0), parse_body(select.text(1))};
}

void insert_on(Connection& c, const CollectionSpec& spec, std::string_view id, const std::string& json) {
    Statement insert(c, "INSERT INTO " + table_of(spec.name) + " (id, version, doc) VALUES (?, 1, ?)",
                     spec.name);
    insert.bind(id).bind(json);
    insert.step();
}

std::optional<std::int64_t> version_on(Connection& c, const CollectionSpec& spec, std::string_view id) {
    Statement select(c, "SELECT version FROM " + table_of(spec.name) + " WHERE id = ?", spec.name);
    select.bind(id);
    if (!select.step()) return std::nullopt;
    return select.integer(0);
}

std::int64_t replace_on(Connection& c, const CollectionSpec& spec, std::string_view id,
                        const std::string& json, std::int64_t expected) {
    {
        Statement update(
            c,
            "UPDATE " + table_of(spec.name) +
                " SET doc = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING version",
            spec.name);
        update.bind(json).bind(id).bind(expected);
        if (update.step()) return update.integer(0);
    }
    std::optional<std::int64_t> actual = version_on(c, spec, id);
    if (!actual) throw DocumentNotFound(id);
    throw VersionConflict(expected, *actual);
}

bool remove_on(Connection& c, const CollectionSpec& spec, std::string_view id,
               std::optional<std::int64_t> expected) {
    if (!expected) {
        Statement remove(c, "DELETE FROM " + table_of(spec.name) + " WHERE id = ?", spec.name);
        remove.bind(id).step();
        return sqlite3_changes(c.db()) > 0;
    }
    {
        Statement remove(c, "DELETE FROM " + table_of(spec.name) + " WHERE id = ? AND version = ?",
                         spec.name);
        remove.bind(id).bind(*expected).step();
        if (sqlite3_changes(c.db()) > 0) return true;
    }
    std::optional<std::int64_t> actual = version_on(c, spec, id);
    if (!actual) return false;
    throw VersionConflict(*expected, *actual);
}

std::string_view sql_operator(Op op) {
    switch (op) {
        case Op::eq:
            return " = ?";
        case Op::lt:
            return " < ?";
        case Op::le:
            return " <= ?";
        case Op::gt:
            return " > ?";
        case Op::ge:
            return " >= ?";
    }
    return " = ?";
}

// The transaction in progress on this thread, so that a write through the store itself (which would
// wait forever for the writer this thread holds) is refused instead.
thread_local const void* active_transaction_store = nullptr;

}  // namespace

// ---- the store ----------------------------------------------------------------------------------

struct SqliteDocumentStore::Impl {
    explicit Impl(const SqliteDocumentOptions& options)
        : writer(options.path, false, options),
          in_memory(options.path == ":memory:" || options.path.empty()) {
        if (!in_memory) {
            for (unsigned i = 0; i < options.readers; ++i) {
                idle.push_back(std::make_unique<Connection>(options.path, true, options));
            }
            reader_count = options.readers;
        }
    }

    // A reader for the duration of one call; the writer when there are no readers.
    class Reader {
      public:
        explicit Reader(Impl& impl, const void* store) : impl_(impl) {
            if (impl_.reader_count == 0) {
                // Inside this store's transaction the thread already holds the writer.
                if (active_transaction_store != store) writer_lock_ = std::unique_lock(impl_.writer_mutex);
                return;
            }
            std::unique_lock lock(impl_.pool_mutex);
            impl_.pool_ready.wait(lock, [&] { return !impl_.idle.empty(); });
            connection_ = std::move(impl_.idle.back());
            impl_.idle.pop_back();
        }
        ~Reader() {
            if (!connection_) return;
            {
                std::lock_guard lock(impl_.pool_mutex);
                impl_.idle.push_back(std::move(connection_));
            }
            impl_.pool_ready.notify_one();
        }
        Reader(const Reader&) = delete;
        Reader& operator=(const Reader&) = delete;

        Connection& operator*() { return connection_ ? *connection_ : impl_.writer; }

      private:
        Impl& impl_;
        std::unique_ptr<Connection> connection_;
        std::unique_lock<std::mutex> writer_lock_;
    };

    std::unique_lock<std::mutex> lock_writer(const void* store) {
        if (active_transaction_store == store) {
            throw StoreFailure(
                "write through the store inside its own transaction: use the DocumentTransaction");
        }
        return std::unique_lock(writer_mutex);
    }

    std::mutex writer_mutex;
    Connection writer;
    bool in_memory;
    unsigned reader_count = 0;
    std::mutex pool_mutex;
    std::condition_variable pool_ready;
    std::vector<std::unique_ptr<Connection>> idle;
};

namespace {

class SqliteTransaction final : public DocumentTransaction {
  public:
    SqliteTransaction(const detail::Collections& collections, Connection& writer)
        : DocumentTransaction(collections), writer_(writer) {}

  private:
    std::optional<Document> do_get(const CollectionSpec& spec, std::string_view id) override {
        return get_on(writer_, spec, id);
    }
    void do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) override {
        insert_on(writer_, spec, id, body.json);
    }
    std::int64_t do_replace(const CollectionSpec& spec, std::string_view id, const Body& body,
                            std::int64_t expected_version) override {
        return replace_on(writer_, spec, id, body.json, expected_version);
    }
    bool do_remove(const CollectionSpec& spec, std::string_view id,
                   std::optional<std::int64_t> expected_version) override {
        return remove_on(writer_, spec, id, expected_version);
    }

    Connection& writer_;
};

}  // namespace

SqliteDocumentStore::SqliteDocumentStore(SqliteDocumentOptions options)
    : impl_(std::make_unique<Impl>(options)) {}

SqliteDocumentStore::~SqliteDocumentStore() = default;

bool SqliteDocumentStore::ping() noexcept {
    try {
        Impl::Reader reader(*impl_, this);
        Statement select(*reader, "SELECT 1");
        return select.step();
    } catch (...) {
        return false;
    }
}

std::optional<Document> SqliteDocumentStore::do_get(const CollectionSpec& spec, std::string_view id) {
    Impl::Reader reader(*impl_, this);
    return get_on(*reader, spec, id);
}

void SqliteDocumentStore::do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) {
    auto lock = impl_->lock_writer(this);
    insert_on(impl_->writer, spec, id, body.json);
}

std::int64_t SqliteDocumentStore::do_replace(const CollectionSpec& spec, std::string_view id,
                                             const Body& body, std::int64_t expected_version) {
    auto lock = impl_->lock_writer(this);
    return replace_on(impl_->writer, spec, id, body.json, expected_version);
}

bool SqliteDocumentStore::do_remove(const CollectionSpec& spec, std::string_view id,
                                    std::optional<std::int64_t> expected_version) {
    auto lock = impl_->lock_writer(this);
    return remove_on(impl_->writer, spec, id, expected_version);
}

void SqliteDocumentStore::do_transaction(const std::function<void(DocumentTransaction&)>& body) {
    auto lock = impl_->lock_writer(this);
    Connection& writer = impl_->writer;
    // IMMEDIATE takes the write lock now, so another process's writer cannot make this one fail
    // half-way with SQLITE_BUSY on its first write.
    writer.exec("BEGIN IMMEDIATE");
    active_transaction_store = this;
    try {
        SqliteTransaction tx(collections(), writer);
        body(tx);
        writer.exec("COMMIT");
    } catch (...) {
        active_transaction_store = nullptr;
        if (!sqlite3_get_autocommit(writer.db()))
            sqlite3_exec(writer.db(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    active_transaction_store = nullptr;
}

void SqliteDocumentStore::do_ensure_collection(const CollectionSpec& spec) {
    auto lock = impl_->lock_writer(this);
    Connection& writer = impl_->writer;
    std::string table = table_of(spec.name);
    writer.exec("BEGIN IMMEDIATE");
    try {
        writer.exec("CREATE TABLE IF NOT EXISTS " + table +
                    " (id TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL CHECK "
                    "(json_valid(doc)))");

        std::unordered_set<std::string> columns;
        {
            Statement info(writer, "SELECT name FROM pragma_table_xinfo(?)");
            info.bind("doc_" + spec.name);
            while (info.step()) columns.emplace(info.text(0));
        }
        std::unordered_set<std::string> wanted_indexes;
        for (const IndexedField& field : spec.fields) {
            // Columns without a declared type have no affinity: values keep the type json_extract
            // gives them (TEXT, INTEGER, REAL), and compare with bound values of the same type.
            if (!columns.contains("f_" + field.name)) {
                writer.exec("ALTER TABLE " + table + " ADD COLUMN " + column_of(field.name) +
                            " GENERATED ALWAYS AS (json_extract(doc, '$." + field.name + "')) VIRTUAL");
            }
            std::string ordered = index_name(spec.name, field.name, false);
            writer.exec("CREATE INDEX IF NOT EXISTS \"" + ordered + "\" ON " + table + " (" +
                        column_of(field.name) + ", id)");
            wanted_indexes.insert(ordered);
            if (field.unique) {
                std::string unique = index_name(spec.name, field.name, true);
                writer.exec("CREATE UNIQUE INDEX IF NOT EXISTS \"" + unique + "\" ON " + table + " (" +
                                column_of(field.name) + ")",
                            spec.name);
                wanted_indexes.insert(unique);
            }
        }
        // Indexes of fields no longer declared (or no longer unique) would still constrain writes.
        std::vector<std::string> stale;
        {
            Statement indexes(writer, "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?");
            indexes.bind("doc_" + spec.name);
            while (indexes.step()) {
                std::string name(indexes.text(0));
                bool ours = name.starts_with("ix:") || name.starts_with("ux:");
                if (ours && !wanted_indexes.contains(name)) stale.push_back(std::move(name));
            }
        }
        for (const std::string& name : stale) writer.exec("DROP INDEX \"" + name + "\"");
        writer.exec("COMMIT");
    } catch (...) {
        if (!sqlite3_get_autocommit(writer.db()))
            sqlite3_exec(writer.db(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::vector<Document> SqliteDocumentStore::do_find(const FindPlan& plan) {
    // Field names were validated against [a-z][a-z0-9_]*; every value is a bound parameter.
    std::string sql = "SELECT id, version, doc FROM " + table_of(plan.spec.name);
    std::string_view glue = " WHERE ";
    for (const Condition& condition : plan.where) {
        sql += glue;
        sql += column_of(condition.field);
        sql += sql_operator(condition.op);
        glue = " AND ";
    }
    std::string_view after = plan.descending ? " < " : " > ";
    std::string_view direction = plan.descending ? " DESC" : " ASC";
    if (plan.after) {
        sql += glue;
        // A row value comparison, which SQLite turns into a range scan of the (field, id) index.
        sql += plan.order_by != nullptr
                   ? "(" + column_of(plan.order_by->name) + ", id)" + std::string(after) + "(?, ?)"
                   : "id" + std::string(after) + "?";
    }
    sql += " ORDER BY ";
    if (plan.order_by != nullptr) sql += column_of(plan.order_by->name) + std::string(direction) + ", ";
    sql += "id" + std::string(direction) + " LIMIT ?";

    Impl::Reader reader(*impl_, this);
    Statement select(*reader, sql, plan.spec.name);
    for (const Condition& condition : plan.where) select.bind(condition.value);
    if (plan.after) {
        if (plan.order_by != nullptr) select.bind(plan.after->key);
        select.bind(plan.after->id);
    }
    select.bind(static_cast<std::int64_t>(plan.fetch));
    std::vector<Document> documents;
    while (select.step()) {
        documents.push_back(
            Document{std::string(select.text(0)), select.integer(1), parse_body(select.text(2))});
    }
    return documents;
}

}  // namespace olympus::documents
