#pragma once

// The document storage port: JSON documents in named collections, each document addressed by an id
// chosen by the caller and carrying an integer version for optimistic concurrency. Adapters:
// SqliteDocumentStore (the embedded default) and MongoDocumentStore (production).
//
// The port is SYNCHRONOUS: every call blocks on disk or network. Handlers never call it on an HTTP
// I/O thread; they go through exec::Offload so the I/O threads keep serving:
//
//   auto order = co_await offload.run([&] { return store.get("orders", id); });
//
// Every method is safe to call from several threads at once; a DocumentTransaction belongs to the
// thread running the transaction body.
//
// Collections are declared at start-up with ensure_collection(), naming the fields that queries
// may filter and sort on. Those fields have a declared JSON type that every stored document must
// honour, which is what lets SQLite and MongoDB agree on equality, ordering and uniqueness.
//
// Reserved names: top-level members whose names start with '_' belong to the store (MongoDB keeps
// _id and _version there), so documents may not use them. Member names, at any depth, may not be
// empty, contain '.' or NUL, or start with '$' (MongoDB cannot query such names). Integers must fit
// in int64 (BSON has no uint64) and numbers must be finite.
//
// Errors are Problems (problem.hpp) of the typed subclasses below, so that a handler that does not
// catch them still answers with a sensible status.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "problem.hpp"

namespace olympus::documents {

// Limits, each with its reason.
inline constexpr std::size_t kMaxNameLength = 64;          // names become SQL identifiers and index names
inline constexpr std::size_t kMaxIdBytes = 256;            // ids appear in URLs, cursors and index keys
inline constexpr std::size_t kMaxDocumentBytes = 1 << 20;  // well under MongoDB's 16 MiB BSON limit
inline constexpr std::size_t kMaxDocumentDepth = 64;       // MongoDB refuses nesting beyond 100
inline constexpr std::size_t kMaxPageSize = 500;           // a page is materialised in memory at once
inline constexpr std::size_t kDefaultPageSize = 50;
inline constexpr std::size_t kMaxCursorLength = 2048;  // a cursor holds one key and one id

// The JSON type of an indexed field. `number` accepts integers and doubles (compared numerically);
// indexed strings may not contain NUL (elsewhere in a document they may).
enum class FieldType : std::uint8_t { string, integer, number, boolean };

struct IndexedField {
    std::string name;  // a top-level member, [a-z][a-z0-9_]*
    FieldType type = FieldType::string;
    bool unique = false;
    // Required fields are present (non-null) in every document. Optional ones are either absent or
    // of the declared type (never null); only required fields can be sorted on, so that every
    // document has a place in the order and keyset pagination never loses one.
    bool required = true;
};

struct CollectionSpec {
    std::string name;  // [a-z_][a-z0-9_]*
    std::vector<IndexedField> fields;

    const IndexedField* field(std::string_view field_name) const;
};

struct Document {
    std::string id;
    std::int64_t version = 0;  // 1 after insert, +1 on every replace
    boost::json::object body;
};

enum class Op : std::uint8_t { eq, lt, le, gt, ge };
enum class Direction : std::uint8_t { ascending, descending };

// One condition on an indexed field; a query's conditions must all hold.
struct Condition {
    std::string field;
    Op op = Op::eq;
    boost::json::value value;
};

struct Query {
    std::vector<Condition> where;
    // A required indexed field; the id always breaks ties. Empty: the order of ids.
    std::string order_by;
    Direction direction = Direction::ascending;
    std::size_t limit = kDefaultPageSize;  // 1..kMaxPageSize
    // The next_cursor of the previous page of the same query (same order); empty for the first page.
    // Pages continue after the last (key, id) seen, never at an offset, so documents inserted or
    // deleted between pages never make another one skipped or repeated.
    std::string cursor;

    // Builders, for queries written inline:
    //   store.find("orders", Query().filter("customer_id", Op::eq, id).order("created_at").take(20));
    Query& filter(std::string field, Op op, boost::json::value value) {
        where.push_back(Condition{std::move(field), op, std::move(value)});
        return *this;
    }
    Query& order(std::string field, Direction d = Direction::ascending) {
        order_by = std::move(field);
        direction = d;
        return *this;
    }
    Query& descending() {
        direction = Direction::descending;
        return *this;
    }
    Query& take(std::size_t n) {
        limit = n;
        return *this;
    }
    Query& after(std::string next_cursor) {
        cursor = std::move(next_cursor);
        return *this;
    }
};

struct Page {
    std::vector<Document> items;
    std::optional<std::string> next_cursor;  // absent on the last page
};

// ---- errors -------------------------------------------------------------------------------------

// Base of the store's errors. detail() is safe to show to a client; diagnostic() carries what the
// database said, for logs only.
class DocumentError : public Problem {
  public:
    DocumentError(int status, std::string title, std::string detail, std::string diagnostic = {});
    const std::string& diagnostic() const { return diagnostic_; }
    // The diagnostic when there is one (for logs and test output), else the detail or the title.
    const char* what() const noexcept override;

  private:
    std::string diagnostic_;
};

// 409: an insert reused an id, or a write broke a unique index. field() is "id" for the id.
class DuplicateKey : public DocumentError {
  public:
    DuplicateKey(std::string collection, std::string field, std::string diagnostic = {});
    const std::string& collection() const { return collection_; }
    const std::string& field() const { return field_; }

  private:
    std::string collection_;
    std::string field_;
};

// 409: the document changed since the caller read it. A handler behind If-Match answers 412 instead.
class VersionConflict : public DocumentError {
  public:
    VersionConflict(std::int64_t expected, std::int64_t actual);
    std::int64_t expected() const { return expected_; }
    std::int64_t actual() const { return actual_; }

  private:
    std::int64_t expected_;
    std::int64_t actual_;
};

// 404: replace() of a document that does not exist.
class DocumentNotFound : public DocumentError {
  public:
    explicit DocumentNotFound(std::string_view id);
};

// 422: a document (or id) the store cannot hold; detail() names the member by JSON Pointer.
class InvalidDocument : public DocumentError {
  public:
    explicit InvalidDocument(std::string detail);
};

// 400: a query the collection cannot answer (unknown field, wrong value type, foreign cursor).
class InvalidQuery : public DocumentError {
  public:
    explicit InvalidQuery(std::string detail);
};

// 500: a collection or field name that is malformed or was never declared: a defect in the calling
// code, never a client's fault.
class InvalidName : public DocumentError {
  public:
    explicit InvalidName(std::string diagnostic);
};

// 503: the database cannot be reached or stayed busy past its timeout; retrying later may work.
class StoreUnavailable : public DocumentError {
  public:
    explicit StoreUnavailable(std::string diagnostic);
};

// 500: any other failure of the database.
class StoreFailure : public DocumentError {
  public:
    explicit StoreFailure(std::string diagnostic);
};

// ---- the port -----------------------------------------------------------------------------------

namespace detail {
// The collections declared so far; shared by a store and its transactions.
class Collections {
  public:
    void put(CollectionSpec spec);
    // The spec of a declared collection; InvalidName when `name` was never declared.
    std::shared_ptr<const CollectionSpec> get(std::string_view name) const;

  private:
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<const CollectionSpec>> specs_;
};
}  // namespace detail

// The single-document operations, available on the store and inside a transaction. The public
// methods validate names, ids and documents once, for every adapter; adapters implement do_*.
class DocumentOperations {
  public:
    DocumentOperations(const DocumentOperations&) = delete;
    DocumentOperations& operator=(const DocumentOperations&) = delete;

    std::optional<Document> get(std::string_view collection, std::string_view id);
    // Stores a new document at version 1. DuplicateKey when the id or a unique field is taken.
    Document insert(std::string_view collection, std::string_view id, boost::json::object body);
    // Replaces the body when the stored version is `expected_version`, and bumps the version.
    // VersionConflict when it is not, DocumentNotFound when there is no such document.
    Document replace(std::string_view collection, std::string_view id, boost::json::object body,
                     std::int64_t expected_version);
    // False when there was no such document.
    bool remove(std::string_view collection, std::string_view id);
    // The same, only when the stored version is `expected_version` (VersionConflict otherwise).
    bool remove(std::string_view collection, std::string_view id, std::int64_t expected_version);

  protected:
    explicit DocumentOperations(const detail::Collections& collections) : collections_(collections) {}
    ~DocumentOperations() = default;

    // A validated body with its JSON text (which the SQLite adapter stores as is).
    struct Body {
        const boost::json::object& object;
        std::string json;
    };

    virtual std::optional<Document> do_get(const CollectionSpec& spec, std::string_view id) = 0;
    virtual void do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) = 0;
    // Returns the new version.
    virtual std::int64_t do_replace(const CollectionSpec& spec, std::string_view id, const Body& body,
                                    std::int64_t expected_version) = 0;
    virtual bool do_remove(const CollectionSpec& spec, std::string_view id,
                           std::optional<std::int64_t> expected_version) = 0;

    const detail::Collections& collections() const { return collections_; }

  private:
    const detail::Collections& collections_;
};

// Several writes that commit together or not at all, e.g. a document and its outbox event:
//
//   store.transaction([&](DocumentTransaction& tx) {
//       tx.insert("orders", order_id, order);
//       tx.insert("outbox", event_id, event);
//   });
//
// Reads inside see the transaction's own writes.
class DocumentTransaction : public DocumentOperations {
  protected:
    using DocumentOperations::DocumentOperations;
    ~DocumentTransaction() = default;
};

// What an adapter's find receives: a validated query, its cursor decoded, its order field resolved.
struct FindPlan {
    const CollectionSpec& spec;
    const std::vector<Condition>& where;
    const IndexedField* order_by;  // nullptr: by id alone
    bool descending;
    std::size_t fetch;  // limit + 1, to learn whether another page follows
    struct After {
        boost::json::value key;  // null when ordering by id alone
        std::string id;
    };
    std::optional<After> after;  // continue strictly after this (key, id)
};

class DocumentStore : public DocumentOperations {
  public:
    virtual ~DocumentStore() = default;

    // Creates the collection and its indexes if needed (idempotent; call at start-up, from one
    // thread, before serving). InvalidName for a malformed collection or field name.
    void ensure_collection(const CollectionSpec& spec);

    // Documents matching every condition, in (order_by, id) order, one page at a time.
    Page find(std::string_view collection, const Query& query);

    // Runs `body` in one transaction and returns its result. An exception from `body` rolls
    // everything back and propagates. The MongoDB adapter may run `body` more than once (a transient
    // conflict between transactions is retried), so `body` must only touch the transaction. A store
    // error inside ends the transaction (MongoDB aborts it on the server): let it propagate rather
    // than carry on. On MongoDB without multi-document transactions, see mongo_document_store.hpp
    // for what one transaction may hold.
    template <class F>
    std::invoke_result_t<F&, DocumentTransaction&> transaction(F&& body) {
        using Result = std::invoke_result_t<F&, DocumentTransaction&>;
        if constexpr (std::is_void_v<Result>) {
            do_transaction([&](DocumentTransaction& tx) { body(tx); });
        } else {
            std::optional<Result> result;
            do_transaction([&](DocumentTransaction& tx) { result.emplace(body(tx)); });
            return std::move(*result);
        }
    }

    // True when the database answers; for readiness checks, bounded by the adapter's timeouts:
    //   health.add_check("documents", [&store] { return store.ping(); });
    virtual bool ping() noexcept = 0;

  protected:
    DocumentStore() : DocumentOperations(collections_) {}

    virtual void do_ensure_collection(const CollectionSpec& spec) = 0;
    // At most plan.fetch documents, in order.
    virtual std::vector<Document> do_find(const FindPlan& plan) = 0;
    virtual void do_transaction(const std::function<void(DocumentTransaction&)>& body) = 0;

  private:
    detail::Collections collections_;
};

// ---- helpers shared by the adapters (and tested on their own) -----------------------------------

// [a-z_][a-z0-9_]{0,63}
bool valid_collection_name(std::string_view name);
// [a-z][a-z0-9_]{0,63}: as a collection name, but '_' first is reserved for the store.
bool valid_field_name(std::string_view name);
// InvalidDocument unless the body obeys the rules in this header and the spec's field types.
void validate_body(const CollectionSpec& spec, const boost::json::object& body);
// True when `value` has the JSON type `type` (int64-sized integers only).
bool has_type(const boost::json::value& value, FieldType type);

// Cursor codec: base64url (no padding) of the JSON array [order_by, "asc"|"desc", key, id].
std::string encode_cursor(std::string_view order_by, Direction direction, const boost::json::value& key,
                          std::string_view id);
struct DecodedCursor {
    std::string order_by;
    Direction direction = Direction::ascending;
    boost::json::value key;
    std::string id;
};
// InvalidQuery when the text is not a cursor this store wrote.
DecodedCursor decode_cursor(std::string_view cursor);

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace olympus::documents
