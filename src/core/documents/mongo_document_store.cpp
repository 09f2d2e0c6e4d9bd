#include "documents/mongo_document_store.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <mongoc/mongoc.h>

#include "documents/mongo_bson.hpp"
#include "log/log.hpp"

namespace olympus::documents {

using mongo::Bson;

namespace {

// ---- driver plumbing ----------------------------------------------------------------------------

// A failure that may succeed when the whole transaction runs again.
class TransientTransactionError : public StoreUnavailable {
  public:
    using StoreUnavailable::StoreUnavailable;
};

[[noreturn]] void fail(const bson_error_t& error, const bson_t* reply, std::string_view collection,
                       std::string_view doing) {
    if (mongo::is_transient_transaction_error(reply)) {
        throw TransientTransactionError(std::string(doing) + ": " + error.message);
    }
    mongo::throw_error(error, reply, collection, doing);
}

// A reply document the driver always initialises, destroyed here.
struct Reply {
    Reply() { bson_init(&bson); }
    ~Reply() { bson_destroy(&bson); }
    Reply(const Reply&) = delete;
    Reply& operator=(const Reply&) = delete;
    void reset() {
        bson_destroy(&bson);
        bson_init(&bson);
    }
    std::int64_t count(const char* field) const {
        bson_iter_t it;
        return bson_iter_init_find(&it, &bson, field) ? bson_iter_as_int64(&it) : 0;
    }
    bson_t bson;
};

class Client {
  public:
    explicit Client(mongoc_client_pool_t* pool) : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
    ~Client() { mongoc_client_pool_push(pool_, client_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    mongoc_client_t* get() const { return client_; }

  private:
    mongoc_client_pool_t* pool_;
    mongoc_client_t* client_;
};

class Collection {
  public:
    Collection(const Client& client, const std::string& database, std::string_view name)
        : collection_(
              mongoc_client_get_collection(client.get(), database.c_str(), std::string(name).c_str())) {}
    ~Collection() { mongoc_collection_destroy(collection_); }
    Collection(const Collection&) = delete;
    Collection& operator=(const Collection&) = delete;
    mongoc_collection_t* get() const { return collection_; }

  private:
    mongoc_collection_t* collection_;
};

class Cursor {
  public:
    explicit Cursor(mongoc_cursor_t* cursor) : cursor_(cursor) {}
    ~Cursor() { mongoc_cursor_destroy(cursor_); }
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;

    // The next document, or nullptr at the end; throws on a failed query.
    const bson_t* next(std::string_view collection, std::string_view doing) {
        const bson_t* document = nullptr;
        if (mongoc_cursor_next(cursor_, &document)) return document;
        bson_error_t error;
        const bson_t* reply = nullptr;
        if (mongoc_cursor_error_document(cursor_, &error, &reply)) fail(error, reply, collection, doing);
        return nullptr;
    }

  private:
    mongoc_cursor_t* cursor_;
};

// The driver's own log lines, as ours (it would print them on stderr).
void log_driver_line(mongoc_log_level_t level, const char* domain, const char* message, void* /*data*/) {
    log::Level ours = log::Level::debug;
    switch (level) {
        case MONGOC_LOG_LEVEL_ERROR:
        case MONGOC_LOG_LEVEL_CRITICAL:
            ours = log::Level::error;
            break;
        case MONGOC_LOG_LEVEL_WARNING:
            ours = log::Level::warn;
            break;
        case MONGOC_LOG_LEVEL_MESSAGE:
        case MONGOC_LOG_LEVEL_INFO:
            ours = log::Level::info;
            break;
        default:
            break;
    }
    if (!log::enabled(ours)) return;
    std::string logger = std::string("mongoc.") + (domain != nullptr ? domain : "");
    log::write(ours, message != nullptr ? message : "", {{"log.logger", logger}});
}

// Options carrying the session, when there is one.
Bson with_session(Bson opts, mongoc_client_session_t* session) {
    if (session != nullptr) {
        bson_error_t error;
        if (!mongoc_client_session_append(session, opts.get(), &error)) fail(error, nullptr, "", "session");
    }
    return opts;
}

}  // namespace

// ---- the store ----------------------------------------------------------------------------------

struct MongoDocumentStore::Impl {
    explicit Impl(MongoDocumentOptions opts) : options(std::move(opts)) {
        static std::once_flag initialised;
        std::call_once(initialised, [] {
            mongoc_init();
            mongoc_log_set_handler(log_driver_line, nullptr);
        });

        bson_error_t error;
        mongoc_uri_t* uri = mongoc_uri_new_with_error(options.uri.c_str(), &error);
        // The URI may hold a password: the message is the driver's, never the URI itself.
        if (uri == nullptr) throw StoreFailure(std::string("invalid MongoDB URI: ") + error.message);
        // Majority write concern and retryable writes, whatever the URI says: an acknowledged write
        // survives a primary failover, and a write interrupted by one is retried once.
        mongoc_write_concern_t* concern = mongoc_write_concern_new();
        mongoc_write_concern_set_wmajority(concern,
                                           static_cast<std::int32_t>(options.write_concern_timeout.count()));
        mongoc_uri_set_write_concern(uri, concern);
        mongoc_write_concern_destroy(concern);
        mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYWRITES, true);
        if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
            mongoc_uri_set_option_as_int32(
                uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                static_cast<std::int32_t>(options.server_selection_timeout.count()));
        }
        if (options.database.empty()) {
            const char* named = mongoc_uri_get_database(uri);
            database = named != nullptr && *named != '\0' ? named : "olympus";
        } else {
            database = options.database;
        }
        pool = mongoc_client_pool_new_with_error(uri, &error);
        mongoc_uri_destroy(uri);
        if (pool == nullptr) throw StoreFailure(std::string("MongoDB client pool: ") + error.message);
        mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
        mongoc_client_pool_set_appname(pool, "olympus");
        mongoc_client_pool_max_size(pool, options.max_pool_size);
    }
    ~Impl() { mongoc_client_pool_destroy(pool); }

    // ---- deployment ----

    bool transactions_supported() {
        int known = transactions.load();
        if (known >= 0) return known == 1;
        std::lock_guard lock(mutex);
        if (transactions.load() >= 0) return transactions.load() == 1;
        if (options.transactions != MongoDocumentOptions::Transactions::automatic) {
            transactions = options.transactions == MongoDocumentOptions::Transactions::required ? 1 : 0;
            return transactions.load() == 1;
        }
        Client client(pool);
        Reply reply;
        bson_error_t error;
        Bson hello = mongo::to_bson(boost::json::object{{"hello", 1}});
        if (!mongoc_client_command_simple(client.get(), "admin", hello.get(), nullptr, &reply.bson, &error)) {
            // Servers before 4.4.2 only know the legacy name (59: CommandNotFound).
            if (error.code != 59) fail(error, &reply.bson, "", "hello");
            reply.reset();
            Bson is_master = mongo::to_bson(boost::json::object{{"isMaster", 1}});
            if (!mongoc_client_command_simple(client.get(), "admin", is_master.get(), nullptr, &reply.bson,
                                              &error)) {
                fail(error, &reply.bson, "", "isMaster");
            }
        }
        // Read member by member: the answer holds dates, ObjectIds and timestamps the JSON mapping
        // refuses.
        bson_iter_t it;
        std::int64_t wire =
            bson_iter_init_find(&it, &reply.bson, "maxWireVersion") ? bson_iter_as_int64(&it) : 0;
        // Replica sets have transactions from MongoDB 4.0 (wire 7), sharded clusters from 4.2 (wire 8).
        bool replica_set = bson_iter_init_find(&it, &reply.bson, "setName") && wire >= 7;
        bool sharded = bson_iter_init_find(&it, &reply.bson, "msg") && BSON_ITER_HOLDS_UTF8(&it) &&
                       std::string_view(bson_iter_utf8(&it, nullptr)) == "isdbgrid" && wire >= 8;
        transactions = replica_set || sharded ? 1 : 0;
        return transactions.load() == 1;
    }

    // ---- operations, optionally inside a session ----

    std::optional<Bson> get_raw(mongoc_client_session_t* session, std::string_view collection,
                                std::string_view id) {
        Client client(pool);
        return get_raw(client, session, collection, id);
    }

    std::optional<Bson> get_raw(const Client& client, mongoc_client_session_t* session,
                                std::string_view collection, std::string_view id) {
        Collection coll(client, database, collection);
        Bson filter = mongo::id_filter(id);
        Bson opts = with_session(mongo::to_bson(boost::json::object{{"limit", 1}}), session);
        Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
        const bson_t* document = cursor.next(collection, "find by id");
        if (document == nullptr) return std::nullopt;
        return Bson(bson_copy(document));
    }

    void insert(const Client& client, mongoc_client_session_t* session, std::string_view collection,
                std::string_view id, const boost::json::object& body,
                const std::vector<mongo::EmbeddedEvent>& events = {}) {
        Collection coll(client, database, collection);
        Bson document = mongo::stored_document(id, 1, body, events);
        Bson opts = with_session(Bson(), session);
        Reply reply;
        bson_error_t error;
        if (!mongoc_collection_insert_one(coll.get(), document.get(), opts.get(), &reply.bson, &error)) {
            fail(error, &reply.bson, collection, "insert");
        }
    }

    std::int64_t replace(const Client& client, mongoc_client_session_t* session, std::string_view collection,
                         std::string_view id, const boost::json::object& body, std::int64_t expected,
                         const std::vector<mongo::EmbeddedEvent>& events = {}) {
        Collection coll(client, database, collection);
        Bson filter = mongo::version_filter(id, expected);
        Bson opts = with_session(Bson(), session);
        Reply reply;
        bson_error_t error;
        bool ok = false;
        if (fallback()) {
            Bson pipeline = mongo::replace_keeping_outbox(expected + 1, body, events);
            ok = mongoc_collection_update_one(coll.get(), filter.get(), pipeline.get(), opts.get(),
                                              &reply.bson, &error);
        } else {
            Bson document = mongo::stored_document(id, expected + 1, body);
            ok = mongoc_collection_replace_one(coll.get(), filter.get(), document.get(), opts.get(),
                                               &reply.bson, &error);
        }
        if (!ok) fail(error, &reply.bson, collection, "replace");
        if (reply.count("matchedCount") > 0) return expected + 1;
        std::optional<Bson> current = get_raw(client, session, collection, id);
        if (!current) throw DocumentNotFound(id);
        throw VersionConflict(expected, mongo::from_stored(**current).version);
    }

    bool remove(const Client& client, mongoc_client_session_t* session, std::string_view collection,
                std::string_view id, std::optional<std::int64_t> expected) {
        Collection coll(client, database, collection);
        Bson opts = with_session(Bson(), session);
        // In the fallback, events waiting inside the document are moved out first, and the delete
        // only matches a document without any (a transaction may have added one meanwhile).
        for (int attempt = 0; attempt < 10; ++attempt) {
            if (fallback()) move_events_of(client, collection, id);
            Bson filter = expected ? mongo::version_filter(id, *expected) : mongo::id_filter(id);
            if (fallback()) {
                Bson absent(BCON_NEW("$exists", BCON_BOOL(false)));
                BSON_APPEND_DOCUMENT(filter.get(), "_outbox", absent.get());
            }
            Reply reply;
            bson_error_t error;
            if (!mongoc_collection_delete_one(coll.get(), filter.get(), opts.get(), &reply.bson, &error)) {
                fail(error, &reply.bson, collection, "delete");
            }
            if (reply.count("deletedCount") > 0) return true;
            std::optional<Bson> current = get_raw(client, session, collection, id);
            if (!current) return false;
            Document document = mongo::from_stored(**current);
            if (expected && document.version != *expected) throw VersionConflict(*expected, document.version);
            if (!fallback()) return false;
        }
        throw StoreUnavailable("delete kept racing with new embedded events");
    }

    std::vector<Document> find(const FindPlan& plan) {
        Client client(pool);
        Collection coll(client, database, plan.spec.name);
        Bson filter = mongo::find_filter(plan);
        Bson opts = mongo::find_options(plan);
        Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
        std::vector<Document> documents;
        while (const bson_t* document = cursor.next(plan.spec.name, "find")) {
            documents.push_back(mongo::from_stored(*document));
        }
        return documents;
    }

    // ---- the fallback's embedded events ----

    bool fallback() { return !transactions_supported(); }

    // Moves the events waiting inside one document to the outbox collection.
    std::size_t move_events_of(const Client& client, std::string_view collection, std::string_view id) {
        std::optional<Bson> stored = get_raw(client, nullptr, collection, id);
        if (!stored) return 0;
        std::vector<mongo::EmbeddedEvent> events = mongo::embedded_events(**stored);
        if (events.empty()) return 0;
        std::vector<std::string> ids;
        for (const mongo::EmbeddedEvent& event : events) {
            try {
                insert(client, nullptr, options.outbox_collection, event.id, event.body);
            } catch (const DuplicateKey& e) {
                // Moved before, by a run that stopped before pulling it.
                if (e.field() != "id") throw;
            }
            ids.push_back(event.id);
        }
        Collection coll(client, database, collection);
        Bson filter = mongo::id_filter(id);
        Bson pull = mongo::pull_events(ids);
        Reply reply;
        bson_error_t error;
        if (!mongoc_collection_update_one(coll.get(), filter.get(), pull.get(), nullptr, &reply.bson,
                                          &error)) {
            fail(error, &reply.bson, collection, "pull moved events");
        }
        // Drop the emptied array, unless another event arrived meanwhile.
        Bson empty(BCON_NEW("$size", BCON_INT32(0)));
        BSON_APPEND_DOCUMENT(filter.get(), "_outbox", empty.get());
        Bson unset(BCON_NEW("$unset", "{", "_outbox", BCON_UTF8(""), "}"));
        reply.reset();
        if (!mongoc_collection_update_one(coll.get(), filter.get(), unset.get(), nullptr, &reply.bson,
                                          &error)) {
            fail(error, &reply.bson, collection, "unset moved events");
        }
        return ids.size();
    }

    std::size_t move_events_in(std::string_view collection) {
        Client client(pool);
        std::vector<std::string> ids;
        {
            Collection coll(client, database, collection);
            Bson filter(BCON_NEW("_outbox.0", "{", "$exists", BCON_BOOL(true), "}"));
            Bson opts(BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}"));
            Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
            while (const bson_t* document = cursor.next(collection, "find embedded events")) {
                bson_iter_t it;
                if (bson_iter_init_find(&it, document, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
                    ids.emplace_back(bson_iter_utf8(&it, nullptr));
                }
            }
        }
        std::size_t moved = 0;
        for (const std::string& id : ids) moved += move_events_of(client, collection, id);
        return moved;
    }

    std::vector<std::string> declared() {
        std::lock_guard lock(mutex);
        return collections;
    }

    class SessionTransaction;
    class FallbackTransaction;

    MongoDocumentOptions options;
    std::string database;
    mongoc_client_pool_t* pool = nullptr;
    std::mutex mutex;
    std::atomic<int> transactions{-1};     // -1 until the server was asked, then 0 or 1
    std::vector<std::string> collections;  // declared so far, guarded by mutex
};

// A server transaction: every operation carries the session.
class MongoDocumentStore::Impl::SessionTransaction final : public DocumentTransaction {
  public:
    SessionTransaction(const detail::Collections& collections, Impl& impl, const Client& client,
                       mongoc_client_session_t* session)
        : DocumentTransaction(collections), impl_(impl), client_(client), session_(session) {}

  private:
    std::optional<Document> do_get(const CollectionSpec& spec, std::string_view id) override {
        std::optional<Bson> stored = impl_.get_raw(client_, session_, spec.name, id);
        if (!stored) return std::nullopt;
        return mongo::from_stored(**stored);
    }
    void do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) override {
        impl_.insert(client_, session_, spec.name, id, body.object);
    }
    std::int64_t do_replace(const CollectionSpec& spec, std::string_view id, const Body& body,
                            std::int64_t expected_version) override {
        return impl_.replace(client_, session_, spec.name, id, body.object, expected_version);
    }
    bool do_remove(const CollectionSpec& spec, std::string_view id,
                   std::optional<std::int64_t> expected_version) override {
        return impl_.remove(client_, session_, spec.name, id, expected_version);
    }

    Impl& impl_;
    const Client& client_;
    mongoc_client_session_t* session_;
};

// The fallback: one document write and its events, buffered until the body returns, then written
// as one single-document write.
class MongoDocumentStore::Impl::FallbackTransaction final : public DocumentTransaction {
  public:
    FallbackTransaction(const detail::Collections& collections, Impl& impl)
        : DocumentTransaction(collections), impl_(impl) {}

    void commit() {
        if (!write_) {
            if (events_.empty()) return;
            if (events_.size() > 1) refuse("several outbox events without a document write");
            Client client(impl_.pool);
            impl_.insert(client, nullptr, impl_.options.outbox_collection, events_[0].id, events_[0].body);
            return;
        }
        Client client(impl_.pool);
        // An event id already in the outbox is a genuine collision, not a half-finished move:
        // refuse before the document write makes the event durable.
        for (const mongo::EmbeddedEvent& event : events_) {
            if (impl_.get_raw(client, nullptr, impl_.options.outbox_collection, event.id)) {
                throw DuplicateKey(impl_.options.outbox_collection, "id");
            }
        }
        switch (write_->kind) {
            case Write::Kind::insert:
                impl_.insert(client, nullptr, write_->collection, write_->id, write_->body, events_);
                break;
            case Write::Kind::replace:
                impl_.replace(client, nullptr, write_->collection, write_->id, write_->body, write_->expected,
                              events_);
                break;
            case Write::Kind::remove:
                impl_.remove(client, nullptr, write_->collection, write_->id, write_->expected);
                return;
        }
        if (events_.empty()) return;
        try {
            impl_.move_events_of(client, write_->collection, write_->id);
        } catch (const DocumentError& e) {
            // Committed; the events wait in the document for move_embedded_events().
            log::warn("outbox events left embedded for a later move",
                      {{"error.message", e.what()}, {"olympus.collection", write_->collection}});
        }
    }

  private:
    struct Write {
        enum class Kind : std::uint8_t { insert, replace, remove } kind;
        std::string collection;
        std::string id;
        boost::json::object body;
        std::int64_t expected = 0;
    };

    [[noreturn]] static void refuse(std::string_view what) {
        throw StoreFailure("MongoDB without multi-document transactions cannot hold " + std::string(what) +
                           " in one transaction");
    }

    bool is_outbox(const CollectionSpec& spec) const { return spec.name == impl_.options.outbox_collection; }

    void record(Write write) {
        if (write_) refuse("two document writes");
        if (write.kind == Write::Kind::remove && !events_.empty()) refuse("a remove and outbox events");
        write_ = std::move(write);
    }

    std::optional<Document> do_get(const CollectionSpec& spec, std::string_view id) override {
        if (is_outbox(spec)) {
            for (const mongo::EmbeddedEvent& event : events_) {
                if (event.id == id) return Document{event.id, 1, event.body};
            }
        }
        if (write_ && write_->collection == spec.name && write_->id == id) {
            if (write_->kind == Write::Kind::remove) return std::nullopt;
            return Document{write_->id, write_->kind == Write::Kind::insert ? 1 : write_->expected + 1,
                            write_->body};
        }
        std::optional<Bson> stored = impl_.get_raw(nullptr, spec.name, id);
        if (!stored) return std::nullopt;
        return mongo::from_stored(**stored);
    }

    void do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) override {
        if (is_outbox(spec)) {
            if (write_ && write_->kind == Write::Kind::remove) refuse("a remove and outbox events");
            for (const mongo::EmbeddedEvent& event : events_) {
                if (event.id == id) throw DuplicateKey(spec.name, "id");
            }
            events_.push_back({std::string(id), body.object});
            return;
        }
        record({Write::Kind::insert, spec.name, std::string(id), body.object, 0});
    }

    std::int64_t do_replace(const CollectionSpec& spec, std::string_view id, const Body& body,
                            std::int64_t expected_version) override {
        if (is_outbox(spec)) refuse("a replace of an outbox event");
        record({Write::Kind::replace, spec.name, std::string(id), body.object, expected_version});
        return expected_version + 1;
    }

    bool do_remove(const CollectionSpec& spec, std::string_view id,
                   std::optional<std::int64_t> expected_version) override {
        if (is_outbox(spec)) refuse("a remove of an outbox event");
        // Answer now from the current state; the remove itself happens at commit.
        std::optional<Bson> stored = impl_.get_raw(nullptr, spec.name, id);
        if (!stored) return false;
        std::int64_t version = mongo::from_stored(**stored).version;
        if (expected_version && *expected_version != version)
            throw VersionConflict(*expected_version, version);
        record({Write::Kind::remove, spec.name, std::string(id), {}, version});
        return true;
    }

    Impl& impl_;
    std::optional<Write> write_;
    std::vector<mongo::EmbeddedEvent> events_;
};

MongoDocumentStore::MongoDocumentStore(MongoDocumentOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

MongoDocumentStore::~MongoDocumentStore() = default;

bool MongoDocumentStore::ping() noexcept {
    try {
        Client client(impl_->pool);
        Bson ping = mongo::to_bson(boost::json::object{{"ping", 1}});
        Reply reply;
        bson_error_t error;
        return mongoc_client_command_simple(client.get(), "admin", ping.get(), nullptr, &reply.bson, &error);
    } catch (...) {
        return false;
    }
}

bool MongoDocumentStore::multi_document_transactions() {
    return impl_->transactions_supported();
}

std::size_t MongoDocumentStore::move_embedded_events() {
    if (!impl_->fallback()) return 0;
    std::size_t moved = 0;
    for (const std::string& collection : impl_->declared()) {
        if (collection != impl_->options.outbox_collection) moved += impl_->move_events_in(collection);
    }
    return moved;
}

void MongoDocumentStore::drop_database() {
    Client client(impl_->pool);
    mongoc_database_t* database = mongoc_client_get_database(client.get(), impl_->database.c_str());
    bson_error_t error;
    bool ok = mongoc_database_drop_with_opts(database, nullptr, &error);
    mongoc_database_destroy(database);
    if (!ok) fail(error, nullptr, "", "drop database");
}

std::optional<Document> MongoDocumentStore::do_get(const CollectionSpec& spec, std::string_view id) {
    std::optional<Bson> stored = impl_->get_raw(nullptr, spec.name, id);
    if (!stored) return std::nullopt;
    return mongo::from_stored(**stored);
}

void MongoDocumentStore::do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) {
    Client client(impl_->pool);
    impl_->insert(client, nullptr, spec.name, id, body.object);
}

std::int64_t MongoDocumentStore::do_replace(const CollectionSpec& spec, std::string_view id, const Body& body,
                                            std::int64_t expected_version) {
    Client client(impl_->pool);
    return impl_->replace(client, nullptr, spec.name, id, body.object, expected_version);
}

bool MongoDocumentStore::do_remove(const CollectionSpec& spec, std::string_view id,
                                   std::optional<std::int64_t> expected_version) {
    Client client(impl_->pool);
    return impl_->remove(client, nullptr, spec.name, id, expected_version);
}

void MongoDocumentStore::do_ensure_collection(const CollectionSpec& spec) {
    bool transactions = impl_->transactions_supported();
    if (!transactions && impl_->options.transactions == MongoDocumentOptions::Transactions::required) {
        throw StoreFailure(
            "the MongoDB deployment has no multi-document transactions, and they are required");
    }
    Client client(impl_->pool);
    bson_error_t error;
    {
        // Created explicitly: before MongoDB 4.4 a transaction cannot create a collection.
        mongoc_database_t* database = mongoc_client_get_database(client.get(), impl_->database.c_str());
        mongoc_collection_t* created =
            mongoc_database_create_collection(database, spec.name.c_str(), nullptr, &error);
        mongoc_database_destroy(database);
        if (created != nullptr) {
            mongoc_collection_destroy(created);
        } else if (error.code != 48) {  // NamespaceExists
            fail(error, nullptr, spec.name, "create collection");
        }
    }
    Collection coll(client, impl_->database, spec.name);
    std::vector<std::string> wanted = mongo::index_names(spec, !transactions);
    if (!wanted.empty()) {
        Bson command = mongo::create_indexes_command(spec, !transactions);
        Reply reply;
        if (!mongoc_collection_write_command_with_opts(coll.get(), command.get(), nullptr, &reply.bson,
                                                       &error)) {
            fail(error, &reply.bson, spec.name, "create indexes");
        }
    }
    // Indexes of fields no longer declared (or no longer unique) would still constrain writes.
    std::vector<std::string> stale;
    {
        Cursor cursor(mongoc_collection_find_indexes_with_opts(coll.get(), nullptr));
        while (const bson_t* index = cursor.next(spec.name, "list indexes")) {
            bson_iter_t it;
            if (!bson_iter_init_find(&it, index, "name") || !BSON_ITER_HOLDS_UTF8(&it)) continue;
            std::string name = bson_iter_utf8(&it, nullptr);
            bool ours = name.starts_with("ix_") || name.starts_with("ux_");
            if (ours && std::find(wanted.begin(), wanted.end(), name) == wanted.end()) stale.push_back(name);
        }
    }
    for (const std::string& name : stale) {
        if (!mongoc_collection_drop_index_with_opts(coll.get(), name.c_str(), nullptr, &error)) {
            fail(error, nullptr, spec.name, "drop index");
        }
    }
    {
        std::lock_guard lock(impl_->mutex);
        if (std::find(impl_->collections.begin(), impl_->collections.end(), spec.name) ==
            impl_->collections.end()) {
            impl_->collections.push_back(spec.name);
        }
    }
    // Finishes the moves a crash interrupted.
    if (!transactions && spec.name != impl_->options.outbox_collection) impl_->move_events_in(spec.name);
}

std::vector<Document> MongoDocumentStore::do_find(const FindPlan& plan) {
    return impl_->find(plan);
}

void MongoDocumentStore::do_transaction(const std::function<void(DocumentTransaction&)>& body) {
    if (impl_->fallback()) {
        Impl::FallbackTransaction tx(collections(), *impl_);
        body(tx);
        tx.commit();
        return;
    }

    Client client(impl_->pool);
    bson_error_t error;
    mongoc_client_session_t* session = mongoc_client_start_session(client.get(), nullptr, &error);
    if (session == nullptr) fail(error, nullptr, "", "start session");
    // Ending the session aborts a transaction still open (an exception from the body).
    std::unique_ptr<mongoc_client_session_t, void (*)(mongoc_client_session_t*)> session_guard(
        session, mongoc_client_session_destroy);

    mongoc_transaction_opt_t* raw_options = mongoc_transaction_opts_new();
    std::unique_ptr<mongoc_transaction_opt_t, void (*)(mongoc_transaction_opt_t*)> options_guard(
        raw_options, mongoc_transaction_opts_destroy);
    mongoc_read_concern_t* read_concern = mongoc_read_concern_new();
    mongoc_read_concern_set_level(read_concern, MONGOC_READ_CONCERN_LEVEL_SNAPSHOT);
    mongoc_transaction_opts_set_read_concern(raw_options, read_concern);
    mongoc_read_concern_destroy(read_concern);
    mongoc_write_concern_t* write_concern = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(
        write_concern, static_cast<std::int32_t>(impl_->options.write_concern_timeout.count()));
    mongoc_transaction_opts_set_write_concern(raw_options, write_concern);
    mongoc_write_concern_destroy(write_concern);

    constexpr int kAttempts = 5;  // transient conflicts between transactions clear up quickly
    for (int attempt = 1;; ++attempt) {
        if (!mongoc_client_session_start_transaction(session, raw_options, &error)) {
            fail(error, nullptr, "", "start transaction");
        }
        try {
            Impl::SessionTransaction tx(collections(), *impl_, client, session);
            body(tx);
        } catch (const TransientTransactionError&) {
            mongoc_client_session_abort_transaction(session, nullptr);
            if (attempt < kAttempts) continue;
            throw;
        } catch (...) {
            mongoc_client_session_abort_transaction(session, nullptr);
            throw;
        }
        for (int commit = 1;; ++commit) {
            Reply reply;
            bool ok = mongoc_client_session_commit_transaction(session, &reply.bson, &error);
            if (ok) return;
            if (mongoc_error_has_label(&reply.bson, "UnknownTransactionCommitResult") && commit < kAttempts)
                continue;
            if (mongo::is_transient_transaction_error(&reply.bson) && attempt < kAttempts) break;
            fail(error, &reply.bson, "", "commit");
        }
    }
}

}  // namespace olympus::documents
